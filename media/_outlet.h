/* What media/_outlet.c shares with media/_inlet.c: buffer sizes and the forwarding loop, which
 * _inlet calls through the capsule media._outlet._api (PyCapsule_Import). */
#ifndef FRISTED_OUTLET_H
#define FRISTED_OUTLET_H

#include <Python.h>
#include <stdint.h>

#define RTP_BUFFER 2048   /* as media.outlet.RTP_BUFFER */
#define SRTP_TRAILER 144  /* >= pylibsrtp.SRTP_MAX_TRAILER_LEN */
#define OUTLET_API "media._outlet._api"

typedef struct {
    /* fanout(outlets, ...) without the argument conversion: how many outlets are WAITING, or -1
     * with an exception set */
    long (*fanout)(PyObject *outlets, const uint8_t *payload, Py_ssize_t payload_len, long pt, long marker,
                   long seq, unsigned long ts, long abs_time, long level);
} outlet_api;

#endif
