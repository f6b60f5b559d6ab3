/* What media/_estimator.c offers media/_inlet.c through the capsule media._estimator._api
 * (PyCapsule_Import): aiortc's RemoteBitrateEstimator.add for an Estimator, without Python ints. */
#ifndef FRISTED_ESTIMATOR_H
#define FRISTED_ESTIMATOR_H

#include <Python.h>
#include <stdint.h>

#define ESTIMATOR_API "media._estimator._api"

typedef struct {
    PyTypeObject *type; /* media._estimator.Estimator */
    /* Estimator.add(arrival_time_ms, abs_send_time (24 bits), payload_size, ssrc): None, or
     * (bitrate, [ssrcs]), or NULL with an exception set */
    PyObject *(*add)(PyObject *estimator, long long arrival_time_ms, uint32_t abs_send_time, long long payload_size,
                     uint32_t ssrc);
} estimator_api;

#endif
