/* The receive path of media.sfu in C, for the common packet: SRTP-unprotect, parse the header,
 * keep the publication's receiver state (aiortc's StreamStatistics and NackGenerator, the
 * publication's history, newest packet, speaking time) and forward to its legs with
 * media._outlet's loop, without building a Python RtpPacket or running Python per packet.
 *
 * Inlet:  one participant connection's incoming SRTP (its DTLS transport's receive session).
 *         receive(data) handles a packet of a registered Stream and returns None; it returns
 *         the unprotected packet for media.sfu's Python path whenever anything needs a decision
 *         (an SSRC or payload type it does not know, RTX, a restarted stream, a malformed header),
 *         before it changes any state, so the Python path sees the packet as if it came first.
 * Stream: one publisher stream (media SSRC) of a Publication, registered by media.sfu once the
 *         Python path has seen it. The state is written through to the same Python objects the
 *         Python path uses, so either path can take the next packet.
 * Poller: the node loop's epoll wait (media/selector.py). It reads the SRTP media of the sockets
 *         media.sfu gave it and hands each datagram to that connection's Inlet, in C; a datagram
 *         that is not RTP (RFC 7983: STUN, DTLS, RTCP), or arrives before the Inlet holds the
 *         connection's current keys, stays in the socket for asyncio's reader.
 *
 * media/inlet.py says how media.sfu uses it; tests/media/test_inlet.py checks that both paths
 * leave the same state and send the same packets. libsrtp's srtp_unprotect is called through the
 * address pylibsrtp's binding gives (media/internals.py checks its signature).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <math.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "_estimator.h"
#include "_outlet.h"

#define MAX_STREAMS 8          /* a participant publishes one audio and one video stream */
#define MAX_DATAGRAM 1500      /* pylibsrtp's buffer: the Python path refuses anything longer */

/* what an extension id means, as aiortc's HeaderExtensionsMap reads it (media.inlet.extension_kinds) */
#define EXT_NONE 0
#define EXT_ABS_SEND_TIME 1 /* 3 bytes */
#define EXT_AUDIO_LEVEL 2   /* 1 byte */
#define EXT_UTF8 3          /* MID: aiortc decodes it as UTF-8 */
#define EXT_ASCII 4         /* RID, repaired RID: decoded as ASCII */
#define EXT_3_BYTES 5       /* transmission offset */
#define EXT_2_BYTES 6       /* transport-wide sequence number */
#define NTP_UNIX_OFFSET 2208988800.0
#define NACK_WINDOW 128        /* aiortc.rtp.RTP_HISTORY_SIZE: missing packets tracked */

typedef int (*unprotect_fn)(void *ctx, void *rtp, int *len);

static const outlet_api *outlet;
static const estimator_api *estimator; /* NULL when media._estimator is not built */

/* attribute and method names, interned once */
static PyObject *s_enabled, *s_ssrc, *s_newest, *s_packets, *s_outlets, *s_level_seen, *s_last_audio,
    *s_last_spoke, *s_packets_received, *s_base_seq, *s_max_seq, *s_cycles, *s_jitter_q4, *s_last_arrival,
    *s_last_timestamp, *s_missing, *s_add, *s_on_estimate, *s_send_nack, *s_arm_from, *s_seqs, *s_items,
    *s_size;

typedef struct {
    PyObject_HEAD
    uint32_t ssrc;
    int audio;
    uint8_t media[128];  /* payload types this path forwards (media codecs, not RTX) */
    PyObject *pub, *receiver, *stats, *nack, *estimator, *owner;
    PyObject *seqs, *items; /* the publication's PacketHistory lists */
    Py_ssize_t history_size;
    long speaking_level;
    double silence_gap;
    double clock_rate;
} Stream;

typedef struct {
    PyObject_HEAD
    unprotect_fn unprotect;
    PyObject *session; /* the bound pylibsrtp Session (kept alive while bound) */
    void *srtp;
    uint8_t ext[256]; /* EXT_* by header extension id */
    Stream *streams[MAX_STREAMS];
    int nstreams;
    unsigned long long refused, handled;
} Inlet;

static PyTypeObject StreamType;
static PyTypeObject InletType;

/* ---------------------------------------------------------------------------------------- time */

static double clock_seconds(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------------ attribute help */

/* Read an int attribute: 0 and *value set, 1 if it is None, -1 on error. */
static int get_int(PyObject *o, PyObject *name, long long *value) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL)
        return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        return 1;
    }
    *value = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*value == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int set_int(PyObject *o, PyObject *name, long long value) {
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL)
        return -1;
    int r = PyObject_SetAttr(o, name, v);
    Py_DECREF(v);
    return r;
}

static int set_float(PyObject *o, PyObject *name, double value) {
    PyObject *v = PyFloat_FromDouble(value);
    if (v == NULL)
        return -1;
    int r = PyObject_SetAttr(o, name, v);
    Py_DECREF(v);
    return r;
}

static int uint16_gt(long long a, long long b) { /* aiortc.utils.uint16_gt */
    long long half = 0x8000;
    return ((a > b) && (a - b < half)) || ((a < b) && (b - a > half));
}

/* -------------------------------------------------------------------------------------- Stream */

static int stream_init(Stream *st, PyObject *args, PyObject *kw) {
    static char *names[] = {"publication", "ssrc", "receiver", "stats", "nack", "estimator", "history", "owner",
                            "media", "audio", "speaking_level", "silence_gap", NULL};
    PyObject *pub, *receiver, *stats, *nack, *estimator, *history, *owner;
    unsigned long long ssrc;
    Py_buffer media;
    int audio;
    long speaking_level;
    double silence_gap;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OKOOOOOOy*pld", names, &pub, &ssrc, &receiver, &stats, &nack,
                                     &estimator, &history, &owner, &media, &audio, &speaking_level, &silence_gap))
        return -1;
    int ok = media.len == 128 && ssrc <= 0xFFFFFFFFULL;
    if (ok)
        memcpy(st->media, media.buf, 128);
    PyBuffer_Release(&media);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "media: 128 flags, one per payload type; ssrc: 32 bits");
        return -1;
    }
    PyObject *seqs = PyObject_GetAttr(history, s_seqs), *items = PyObject_GetAttr(history, s_items);
    long long size = 0;
    if (seqs == NULL || items == NULL || get_int(history, s_size, &size) != 0 || !PyList_CheckExact(seqs) ||
        !PyList_CheckExact(items) || size <= 0 || PyList_GET_SIZE(seqs) != size || PyList_GET_SIZE(items) != size) {
        Py_XDECREF(seqs);
        Py_XDECREF(items);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "history: a PacketHistory");
        return -1;
    }
    long long clock_rate = 0;
    PyObject *rate = PyObject_GetAttrString(stats, "_clockrate");
    if (rate == NULL || (clock_rate = PyLong_AsLongLong(rate)) <= 0) {
        Py_XDECREF(rate);
        Py_DECREF(seqs);
        Py_DECREF(items);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "stats: a StreamStatistics with a clock rate");
        return -1;
    }
    Py_DECREF(rate);
    st->ssrc = (uint32_t)ssrc;
    st->audio = audio;
    st->speaking_level = speaking_level;
    st->silence_gap = silence_gap;
    st->clock_rate = (double)clock_rate;
    st->history_size = (Py_ssize_t)size;
    Py_XSETREF(st->seqs, seqs);
    Py_XSETREF(st->items, items);
    Py_INCREF(pub); Py_XSETREF(st->pub, pub);
    Py_INCREF(receiver); Py_XSETREF(st->receiver, receiver);
    Py_INCREF(stats); Py_XSETREF(st->stats, stats);
    Py_INCREF(nack); Py_XSETREF(st->nack, nack);
    Py_INCREF(estimator); Py_XSETREF(st->estimator, estimator);
    Py_INCREF(owner); Py_XSETREF(st->owner, owner);
    return 0;
}

static int stream_traverse(Stream *st, visitproc visit, void *arg) {
    Py_VISIT(st->pub); Py_VISIT(st->receiver); Py_VISIT(st->stats); Py_VISIT(st->nack);
    Py_VISIT(st->estimator); Py_VISIT(st->owner); Py_VISIT(st->seqs); Py_VISIT(st->items);
    return 0;
}

static int stream_clear(Stream *st) {
    Py_CLEAR(st->pub); Py_CLEAR(st->receiver); Py_CLEAR(st->stats); Py_CLEAR(st->nack);
    Py_CLEAR(st->estimator); Py_CLEAR(st->owner); Py_CLEAR(st->seqs); Py_CLEAR(st->items);
    return 0;
}

static void stream_dealloc(Stream *st) {
    PyObject_GC_UnTrack(st);
    stream_clear(st);
    Py_TYPE(st)->tp_free((PyObject *)st);
}

static PyMemberDef stream_members[] = {
    {"ssrc", T_UINT, offsetof(Stream, ssrc), READONLY, "the publisher's media SSRC"},
    {NULL}};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._inlet.Stream",
    .tp_basicsize = sizeof(Stream),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One publisher stream the inlet handles (see media/inlet.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)stream_init,
    .tp_traverse = (traverseproc)stream_traverse,
    .tp_clear = (inquiry)stream_clear,
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_members = stream_members,
};

/* ---------------------------------------------------------------------------- parsed packets */

typedef struct {
    int marker, pt;
    long seq;
    uint32_t ts, ssrc;
    Py_ssize_t payload, payload_len, padding;
    long abs_time, level; /* -1 when absent */
} Header;

/* Parse as aiortc's RtpPacket.parse does; 0 if well-formed (and the extensions this path reads
 * are well-formed), -1 otherwise (the Python path then decides, and refuses what aiortc refuses). */
static int parse(const uint8_t *p, Py_ssize_t len, const uint8_t *ext, Header *h) {
    if (len < 12 || (p[0] >> 6) != 2)
        return -1;
    int padding = (p[0] >> 5) & 1, extension = (p[0] >> 4) & 1, cc = p[0] & 0x0F;
    h->marker = p[1] >> 7;
    h->pt = p[1] & 0x7F;
    h->seq = (p[2] << 8) | p[3];
    h->ts = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
    h->ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
    h->abs_time = h->level = -1;
    Py_ssize_t pos = 12 + 4 * cc;
    if (len < pos)
        return -1;
    if (extension) {
        if (len < pos + 4)
            return -1;
        int profile = (p[pos] << 8) | p[pos + 1];
        Py_ssize_t ext_len = 4 * ((p[pos + 2] << 8) | p[pos + 3]);
        pos += 4;
        if (len < pos + ext_len)
            return -1;
        Py_ssize_t i = pos, end = pos + ext_len;
        int two = profile == 0x1000;
        if (profile == 0xBEDE || two) {
            while (i < end) {
                if (p[i] == 0) { /* padding */
                    i++;
                    continue;
                }
                int id, n;
                if (two) {
                    if (end < i + 2)
                        return -1;
                    id = p[i];
                    n = p[i + 1];
                    i += 2;
                } else {
                    id = p[i] >> 4;
                    n = (p[i] & 0x0F) + 1;
                    i += 1;
                }
                if (end < i + n)
                    return -1;
                switch (ext[id]) { /* where aiortc would raise, the Python path decides */
                case EXT_ABS_SEND_TIME:
                    if (n != 3)
                        return -1;
                    h->abs_time = ((long)p[i] << 16) | ((long)p[i + 1] << 8) | p[i + 2];
                    break;
                case EXT_AUDIO_LEVEL:
                    if (n != 1)
                        return -1;
                    h->level = p[i];
                    break;
                case EXT_UTF8: {
                    PyObject *text = PyUnicode_DecodeUTF8((const char *)p + i, n, "strict");
                    if (text == NULL) {
                        PyErr_Clear();
                        return -1;
                    }
                    Py_DECREF(text);
                    break;
                }
                case EXT_ASCII:
                    for (int k = 0; k < n; k++)
                        if (p[i + k] > 127)
                            return -1;
                    break;
                case EXT_3_BYTES:
                    if (n != 3)
                        return -1;
                    break;
                case EXT_2_BYTES:
                    if (n != 2)
                        return -1;
                    break;
                }
                i += n;
            }
        }
        pos = end;
    }
    h->padding = 0;
    if (padding) {
        int n = p[len - 1];
        if (!n || n > len - pos)
            return -1;
        h->padding = n;
    }
    h->payload = pos;
    h->payload_len = len - pos - h->padding;
    return 0;
}

/* ---------------------------------------------------------------------- the receiver's state */

/* aiortc's StreamStatistics.add, on the same object. */
static int stats_add(Stream *st, const Header *h, double unix_now) {
    PyObject *s = st->stats;
    long long received, max_seq = 0, base_seq;
    if (get_int(s, s_packets_received, &received) != 0)
        return -1;
    int no_max = get_int(s, s_max_seq, &max_seq);
    if (no_max < 0)
        return -1;
    int in_order = no_max == 1 || uint16_gt(h->seq, max_seq);
    received++;
    if (set_int(s, s_packets_received, received) < 0)
        return -1;
    int no_base = get_int(s, s_base_seq, &base_seq);
    if (no_base < 0 || (no_base == 1 && set_int(s, s_base_seq, h->seq) < 0))
        return -1;
    if (!in_order)
        return 0;
    long long arrival = (long long)(unix_now * st->clock_rate);
    if (no_max == 0 && h->seq < max_seq) {
        long long cycles;
        if (get_int(s, s_cycles, &cycles) != 0 || set_int(s, s_cycles, cycles + (1 << 16)) < 0)
            return -1;
    }
    if (set_int(s, s_max_seq, h->seq) < 0)
        return -1;
    long long last_ts = 0, last_arrival = 0, jitter;
    int no_ts = get_int(s, s_last_timestamp, &last_ts);
    if (no_ts < 0)
        return -1;
    if ((no_ts == 1 || (long long)h->ts != last_ts) && received > 1) {
        if (no_ts == 1 || get_int(s, s_last_arrival, &last_arrival) != 0)
            return no_ts == 1 ? (PyErr_SetString(PyExc_TypeError, "no last timestamp"), -1) : -1;
        long long diff = (arrival - last_arrival) - ((long long)h->ts - last_ts);
        if (diff < 0)
            diff = -diff;
        if (get_int(s, s_jitter_q4, &jitter) != 0 || set_int(s, s_jitter_q4, jitter + diff - ((jitter + 8) >> 4)) < 0)
            return -1;
    }
    if (set_int(s, s_last_arrival, arrival) < 0 || set_int(s, s_last_timestamp, h->ts) < 0)
        return -1;
    return 0;
}

/* aiortc's NackGenerator.add (with truncate), on the same object: 1 if packets went missing. */
static int nack_add(PyObject *nack, long seq) {
    long long max_seq;
    int none = get_int(nack, s_max_seq, &max_seq);
    if (none < 0)
        return -1;
    if (none == 1)
        return set_int(nack, s_max_seq, seq) < 0 ? -1 : 0;
    PyObject *missing = PyObject_GetAttr(nack, s_missing);
    if (missing == NULL)
        return -1;
    if (!PySet_Check(missing)) {
        Py_DECREF(missing);
        PyErr_SetString(PyExc_TypeError, "NackGenerator.missing is not a set");
        return -1;
    }
    int missed = 0, err = 0;
    if (uint16_gt(seq, max_seq)) {
        /* aiortc adds every number up to seq, then forgets all but the last NACK_WINDOW: add only those */
        long first = ((seq - max_seq - 1) & 0xFFFF) > NACK_WINDOW ? (seq - NACK_WINDOW) & 0xFFFF : (max_seq + 1) & 0xFFFF;
        for (long s = first; !err && uint16_gt(seq, s); s = (s + 1) & 0xFFFF) {
            PyObject *n = PyLong_FromLong(s);
            err = n == NULL || PySet_Add(missing, n) < 0;
            Py_XDECREF(n);
            missed = 1;
        }
        err = err || set_int(nack, s_max_seq, seq) < 0;
        max_seq = seq;
    } else if (PySet_GET_SIZE(missing)) {
        PyObject *n = PyLong_FromLong(seq);
        err = n == NULL || PySet_Discard(missing, n) < 0;
        Py_XDECREF(n);
    }
    if (!err && PySet_GET_SIZE(missing)) { /* truncate: forget what is older than the window */
        long min_seq = (long)((max_seq - NACK_WINDOW) & 0xFFFF);
        PyObject *old = PyList_New(0), *it = PyObject_GetIter(missing), *item;
        err = old == NULL || it == NULL;
        while (!err && (item = PyIter_Next(it)) != NULL) {
            long s = PyLong_AsLong(item);
            if (s == -1 && PyErr_Occurred())
                err = 1;
            else if (uint16_gt(min_seq, s))
                err = PyList_Append(old, item) < 0;
            Py_DECREF(item);
        }
        err = err || PyErr_Occurred() != NULL;
        for (Py_ssize_t i = 0; !err && i < PyList_GET_SIZE(old); i++)
            err = PySet_Discard(missing, PyList_GET_ITEM(old, i)) < 0;
        Py_XDECREF(it);
        Py_XDECREF(old);
    }
    Py_DECREF(missing);
    return err ? -1 : missed;
}

/* Publication._note_audio, on the same objects. */
static int note_audio(Stream *st, const Header *h, double now) {
    if (h->level >= 0) {
        if (PyObject_SetAttr(st->pub, s_level_seen, Py_True) < 0)
            return -1;
        if ((h->level & 0x7F) <= st->speaking_level && set_float(st->owner, s_last_spoke, now) < 0)
            return -1;
    } else {
        PyObject *seen = PyObject_GetAttr(st->pub, s_level_seen);
        if (seen == NULL)
            return -1;
        int level_seen = PyObject_IsTrue(seen);
        Py_DECREF(seen);
        if (level_seen < 0)
            return -1;
        if (!level_seen) {
            PyObject *last = PyObject_GetAttr(st->pub, s_last_audio);
            double last_audio = last ? PyFloat_AsDouble(last) : -1.0;
            Py_XDECREF(last);
            if (last == NULL || (last_audio == -1.0 && PyErr_Occurred()))
                return -1;
            if (now - last_audio > st->silence_gap && set_float(st->owner, s_last_spoke, now) < 0)
                return -1;
        }
    }
    return set_float(st->pub, s_last_audio, now);
}

/* --------------------------------------------------------------------------------------- Inlet */

static int inlet_init(Inlet *in, PyObject *args, PyObject *kw) {
    static char *names[] = {"unprotect", NULL};
    unsigned long long unprotect;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "K", names, &unprotect))
        return -1;
    if (!unprotect) {
        PyErr_SetString(PyExc_ValueError, "unprotect: the address of srtp_unprotect is needed");
        return -1;
    }
    in->unprotect = (unprotect_fn)(uintptr_t)unprotect;
    memset(in->ext, EXT_NONE, sizeof(in->ext));
    return 0;
}

static int inlet_traverse(Inlet *in, visitproc visit, void *arg) {
    Py_VISIT(in->session);
    for (int i = 0; i < in->nstreams; i++)
        Py_VISIT(in->streams[i]);
    return 0;
}

static int inlet_clear(Inlet *in) {
    Stream *gone[MAX_STREAMS];
    int n = in->nstreams;
    memcpy(gone, in->streams, sizeof(gone));
    memset(in->streams, 0, sizeof(in->streams));
    in->nstreams = 0; /* consistent before any deallocator runs */
    in->srtp = NULL;
    Py_CLEAR(in->session);
    for (int i = 0; i < n; i++)
        Py_XDECREF(gone[i]);
    return 0;
}

static void inlet_dealloc(Inlet *in) {
    PyObject_GC_UnTrack(in);
    inlet_clear(in);
    Py_TYPE(in)->tp_free((PyObject *)in);
}

static PyObject *inlet_bind(Inlet *in, PyObject *args) {
    PyObject *session;
    unsigned long long srtp;
    if (!PyArg_ParseTuple(args, "OK", &session, &srtp))
        return NULL;
    if (!srtp) {
        PyErr_SetString(PyExc_ValueError, "an SRTP context is needed");
        return NULL;
    }
    Py_INCREF(session);
    Py_XSETREF(in->session, session);
    in->srtp = (void *)(uintptr_t)srtp;
    Py_RETURN_NONE;
}

static PyObject *inlet_set_extensions(Inlet *in, PyObject *arg) {
    Py_buffer kinds;
    if (PyObject_GetBuffer(arg, &kinds, PyBUF_SIMPLE) < 0)
        return NULL;
    int ok = kinds.len == 256;
    for (Py_ssize_t i = 0; ok && i < 256; i++)
        ok = ((const uint8_t *)kinds.buf)[i] <= EXT_2_BYTES;
    if (ok)
        memcpy(in->ext, kinds.buf, 256);
    PyBuffer_Release(&kinds);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "set_extensions(kinds): 256 bytes, one per extension id, each 0-6");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *inlet_add(Inlet *in, PyObject *arg) {
    if (Py_TYPE(arg) != &StreamType) {
        PyErr_SetString(PyExc_TypeError, "add(stream): a Stream");
        return NULL;
    }
    Stream *st = (Stream *)arg;
    for (int i = 0; i < in->nstreams; i++)
        if (in->streams[i]->ssrc == st->ssrc) {
            Py_INCREF(arg);
            Py_SETREF(in->streams[i], st);
            Py_RETURN_NONE;
        }
    if (in->nstreams == MAX_STREAMS) {
        PyErr_SetString(PyExc_ValueError, "add(stream): the inlet handles at most 8 streams");
        return NULL;
    }
    Py_INCREF(arg);
    in->streams[in->nstreams++] = st;
    Py_RETURN_NONE;
}

static PyObject *inlet_remove(Inlet *in, PyObject *arg) {
    unsigned long ssrc = PyLong_AsUnsignedLong(arg);
    if (ssrc == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    for (int i = 0; i < in->nstreams; i++)
        if (in->streams[i]->ssrc == ssrc) {
            Stream *st = in->streams[i];
            in->streams[i] = in->streams[--in->nstreams];
            in->streams[in->nstreams] = NULL;
            Py_DECREF(st);
            Py_RETURN_TRUE;
        }
    Py_RETURN_FALSE;
}

static PyObject *inlet_handles(Inlet *in, PyObject *arg) {
    unsigned long ssrc = PyLong_AsUnsignedLong(arg);
    if (ssrc == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    for (int i = 0; i < in->nstreams; i++)
        if (in->streams[i]->ssrc == ssrc)
            Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

/* Everything Publication.on_rtp does for a packet of a registered stream, on the same objects.
 * Returns 0, or -1 with an exception set. */
static int handle(Stream *st, const uint8_t *p, Py_ssize_t len, const Header *h) {
    PyObject *enabled = PyObject_GetAttr(st->receiver, s_enabled);
    if (enabled == NULL)
        return -1;
    int on = PyObject_IsTrue(enabled);
    Py_DECREF(enabled);
    if (on <= 0)
        return on;
    double unix_now = clock_seconds(CLOCK_REALTIME);
    if (st->estimator != Py_None && h->abs_time >= 0) {
        long long arrival_ms = (long long)((unix_now + NTP_UNIX_OFFSET) * 1000);
        PyObject *remb;
        if (estimator != NULL && Py_TYPE(st->estimator) == estimator->type) { /* media._estimator's */
            remb = estimator->add(st->estimator, arrival_ms, (uint32_t)h->abs_time,
                                  (long long)(h->payload_len + h->padding), h->ssrc);
        } else { /* aiortc's */
            PyObject *a = PyLong_FromLongLong(arrival_ms), *b = PyLong_FromLong(h->abs_time),
                     *c = PyLong_FromSsize_t(h->payload_len + h->padding), *d = PyLong_FromUnsignedLong(h->ssrc);
            remb = (a && b && c && d) ? PyObject_CallMethodObjArgs(st->estimator, s_add, a, b, c, d, NULL) : NULL;
            Py_XDECREF(a); Py_XDECREF(b); Py_XDECREF(c); Py_XDECREF(d);
        }
        if (remb == NULL)
            return -1;
        if (remb != Py_None) { /* a new estimate: media.sfu decides whether to send REMB */
            PyObject *r = PyObject_CallMethodOneArg(st->pub, s_on_estimate, remb);
            Py_DECREF(remb);
            if (r == NULL)
                return -1;
            Py_DECREF(r);
        } else {
            Py_DECREF(remb);
        }
    }
    if (stats_add(st, h, unix_now) < 0)
        return -1;
    if (st->nack != Py_None) {
        int missed = nack_add(st->nack, h->seq);
        if (missed < 0)
            return -1;
        if (missed) {
            PyObject *r = PyObject_CallMethodNoArgs(st->pub, s_send_nack);
            if (r == NULL)
                return -1;
            Py_DECREF(r);
        }
    }
    double now = clock_seconds(CLOCK_MONOTONIC); /* asyncio's loop.time() */
    PyObject *newest = PyObject_GetAttr(st->pub, s_newest);
    if (newest == NULL)
        return -1;
    long long newest_seq = -1;
    if (PyTuple_Check(newest) && PyTuple_GET_SIZE(newest) == 4)
        newest_seq = PyLong_AsLongLong(PyTuple_GET_ITEM(newest, 0));
    Py_DECREF(newest);
    if (newest_seq < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Publication.newest: (seq, timestamp, time, Unix time)");
        return -1;
    }
    if (((h->seq - newest_seq) & 0xFFFF) < 0x8000) {
        PyObject *t = Py_BuildValue("(lkdd)", h->seq, (unsigned long)h->ts, now, unix_now);
        if (t == NULL || PyObject_SetAttr(st->pub, s_newest, t) < 0) {
            Py_XDECREF(t);
            return -1;
        }
        Py_DECREF(t);
    }
    long long packets;
    if (get_int(st->pub, s_packets, &packets) != 0 || set_int(st->pub, s_packets, packets + 1) < 0)
        return -1;
    /* the publication's history: the unprotected packet, parsed again only if a subscriber asks */
    Py_ssize_t i = h->seq % st->history_size;
    PyObject *seq = PyLong_FromLong(h->seq), *entry = Py_BuildValue("(y#d)", (const char *)p, len, now);
    if (seq == NULL || entry == NULL) {
        Py_XDECREF(seq);
        Py_XDECREF(entry);
        return -1;
    }
    if (PyList_GET_SIZE(st->seqs) != st->history_size || PyList_GET_SIZE(st->items) != st->history_size) {
        Py_DECREF(seq);
        Py_DECREF(entry);
        PyErr_SetString(PyExc_RuntimeError, "the publication's history changed size");
        return -1;
    }
    if (PyList_SetItem(st->seqs, i, seq) < 0 || PyList_SetItem(st->items, i, entry) < 0) /* they steal */
        return -1;
    if (st->audio && note_audio(st, h, now) < 0)
        return -1;
    PyObject *outlets = PyObject_GetAttr(st->pub, s_outlets);
    if (outlets == NULL)
        return -1;
    if (!PyList_Check(outlets)) {
        Py_DECREF(outlets);
        PyErr_SetString(PyExc_TypeError, "Publication.outlets: a list");
        return -1;
    }
    long waiting = outlet->fanout(outlets, p + h->payload, h->payload_len, h->pt, h->marker, h->seq, h->ts,
                                  h->abs_time, h->level);
    Py_DECREF(outlets);
    if (waiting < 0)
        return -1;
    if (waiting) { /* legs to start (at a keyframe) or to look at again: media.sfu decides */
        PyObject *a = PyBytes_FromStringAndSize((const char *)p, len), *b = PyFloat_FromDouble(now),
                 *c = PyLong_FromLong(h->abs_time), *d = PyLong_FromLong(h->level);
        PyObject *r = (a && b && c && d) ? PyObject_CallMethodObjArgs(st->pub, s_arm_from, a, b, c, d, NULL) : NULL;
        Py_XDECREF(a); Py_XDECREF(b); Py_XDECREF(c); Py_XDECREF(d);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* One datagram: 1 when handled here (or refused), 0 with *plain the unprotected packet for the Python
 * path, -1 with an exception set. */
static int receive_raw(Inlet *in, const uint8_t *data, Py_ssize_t n, PyObject **plain) {
    *plain = NULL;
    uint8_t buf[RTP_BUFFER] __attribute__((aligned(16)));
    if (n < 12 || n > MAX_DATAGRAM) { /* as the Python path: refused */
        in->refused++;
        return 1;
    }
    memcpy(buf, data, (size_t)n);
    int len = (int)n;
    if (in->unprotect(in->srtp, buf, &len) != 0) { /* does not authenticate, or a replay */
        in->refused++;
        return 1;
    }
    Header h;
    Stream *st = NULL;
    if (parse(buf, len, in->ext, &h) == 0)
        for (int i = 0; i < in->nstreams; i++)
            if (in->streams[i]->ssrc == h.ssrc && in->streams[i]->media[h.pt]) {
                st = in->streams[i];
                Py_INCREF(st); /* what follows runs Python, which may remove the stream */
                break;
            }
    if (st != NULL) {
        long long pub_ssrc = -1;
        int none = get_int(st->pub, s_ssrc, &pub_ssrc);
        if (none < 0) {
            Py_DECREF(st);
            return -1;
        }
        if (none == 1 || pub_ssrc != (long long)h.ssrc)
            Py_CLEAR(st); /* none yet, or the publisher restarted its stream: the Python path */
    }
    if (st == NULL) { /* the Python path parses it (and refuses what is malformed) */
        *plain = PyBytes_FromStringAndSize((const char *)buf, len);
        return *plain == NULL ? -1 : 0;
    }
    int r = handle(st, buf, len, &h);
    Py_DECREF(st);
    if (r < 0)
        return -1;
    in->handled++;
    return 1;
}

static PyObject *inlet_receive(Inlet *in, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "receive(data): bytes");
        return NULL;
    }
    if (in->srtp == NULL || in->unprotect == NULL) {
        PyErr_SetString(PyExc_ValueError, "receive: no SRTP session bound");
        return NULL;
    }
    PyObject *plain;
    int r = receive_raw(in, (const uint8_t *)PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg), &plain);
    if (r < 0)
        return NULL;
    if (r == 0)
        return plain;
    Py_RETURN_NONE;
}

static PyObject *inlet_get_session(Inlet *in, void *closure) {
    PyObject *s = in->session ? in->session : Py_None;
    Py_INCREF(s);
    return s;
}

static PyMemberDef inlet_members[] = {
    {"refused", T_ULONGLONG, offsetof(Inlet, refused), 0, "packets that did not authenticate"},
    {"handled", T_ULONGLONG, offsetof(Inlet, handled), 0, "packets handled without the Python path"},
    {NULL}};

static PyGetSetDef inlet_getset[] = {
    {"session", (getter)inlet_get_session, NULL, "the bound SRTP session, or None", NULL},
    {NULL}};

static PyMethodDef inlet_methods[] = {
    {"bind", (PyCFunction)inlet_bind, METH_VARARGS, "bind(session, srtp): unprotect with this SRTP session"},
    {"set_extensions", (PyCFunction)inlet_set_extensions, METH_O,
     "set_extensions(kinds): what each header extension id means (media.inlet.extension_kinds)"},
    {"add", (PyCFunction)inlet_add, METH_O, "add(stream): handle this stream's packets"},
    {"remove", (PyCFunction)inlet_remove, METH_O, "remove(ssrc): hand its packets to the Python path again"},
    {"handles", (PyCFunction)inlet_handles, METH_O, "handles(ssrc): whether a stream is registered"},
    {"receive", (PyCFunction)inlet_receive, METH_O,
     "receive(srtp_packet): None when handled (or refused), else the unprotected packet for the Python path"},
    {NULL}};

static PyTypeObject InletType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._inlet.Inlet",
    .tp_basicsize = sizeof(Inlet),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One connection's incoming SRTP media (see media/inlet.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)inlet_init,
    .tp_traverse = (traverseproc)inlet_traverse,
    .tp_clear = (inquiry)inlet_clear,
    .tp_dealloc = (destructor)inlet_dealloc,
    .tp_members = inlet_members,
    .tp_getset = inlet_getset,
    .tp_methods = inlet_methods,
};

/* -------------------------------------------------------------------------------------- Poller */

#define MAX_EVENTS 256
#define MAX_FD (1 << 20)
#define BURST 64 /* datagrams read from one socket before the others get their turn */

typedef struct {
    Inlet *inlet;       /* NULL: not a media socket */
    PyObject *dtls;     /* its RTCDtlsTransport: the receive SRTP session must be the one bound */
    PyObject *fallback; /* fallback(plain): the Python path for an unprotected packet */
} Route;

typedef struct {
    PyObject_HEAD
    Route *routes; /* by file descriptor */
    int size;
    PyObject *srtp_name, *on_error;
    unsigned long long taken, returned;
} Poller;

static PyTypeObject PollerType;

static int poller_init(Poller *po, PyObject *args, PyObject *kw) {
    static char *names[] = {"srtp_attribute", "on_error", NULL};
    PyObject *name, *on_error;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UO", names, &name, &on_error))
        return -1;
    if (!PyCallable_Check(on_error)) {
        PyErr_SetString(PyExc_TypeError, "on_error: a callable");
        return -1;
    }
    Py_INCREF(name);
    Py_XSETREF(po->srtp_name, name);
    Py_INCREF(on_error);
    Py_XSETREF(po->on_error, on_error);
    return 0;
}

static void route_clear(Route *r) {
    Inlet *in = r->inlet;
    PyObject *dtls = r->dtls, *fallback = r->fallback;
    r->inlet = NULL; /* consistent before any deallocator runs */
    r->dtls = r->fallback = NULL;
    Py_XDECREF(in);
    Py_XDECREF(dtls);
    Py_XDECREF(fallback);
}

static int poller_traverse(Poller *po, visitproc visit, void *arg) {
    for (int fd = 0; fd < po->size; fd++) {
        Py_VISIT(po->routes[fd].inlet);
        Py_VISIT(po->routes[fd].dtls);
        Py_VISIT(po->routes[fd].fallback);
    }
    Py_VISIT(po->on_error);
    return 0;
}

static int poller_clear(Poller *po) {
    for (int fd = 0; fd < po->size; fd++)
        route_clear(&po->routes[fd]);
    Py_CLEAR(po->on_error);
    Py_CLEAR(po->srtp_name);
    return 0;
}

static void poller_dealloc(Poller *po) {
    PyObject_GC_UnTrack(po);
    poller_clear(po);
    PyMem_Free(po->routes);
    Py_TYPE(po)->tp_free((PyObject *)po);
}

static PyObject *poller_add(Poller *po, PyObject *args) {
    int fd;
    PyObject *in, *dtls, *fallback;
    if (!PyArg_ParseTuple(args, "iO!OO", &fd, &InletType, &in, &dtls, &fallback))
        return NULL;
    if (fd < 0 || fd >= MAX_FD) {
        PyErr_SetString(PyExc_ValueError, "add: a file descriptor out of range");
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "add: fallback must be callable");
        return NULL;
    }
    if (fd >= po->size) {
        int size = po->size ? po->size : 64;
        while (size <= fd)
            size *= 2;
        Route *routes = PyMem_Realloc(po->routes, (size_t)size * sizeof(Route));
        if (routes == NULL)
            return PyErr_NoMemory();
        memset(routes + po->size, 0, (size_t)(size - po->size) * sizeof(Route));
        po->routes = routes;
        po->size = size;
    }
    Route old = po->routes[fd];
    Py_INCREF(in);
    Py_INCREF(dtls);
    Py_INCREF(fallback);
    po->routes[fd] = (Route){(Inlet *)in, dtls, fallback};
    route_clear(&old);
    Py_RETURN_NONE;
}

static PyObject *poller_discard(Poller *po, PyObject *arg) {
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    if (fd >= 0 && fd < po->size)
        route_clear(&po->routes[fd]);
    Py_RETURN_NONE;
}

static PyObject *poller_routes(Poller *po, void *closure) {
    PyObject *fds = PyList_New(0);
    for (int fd = 0; fds != NULL && fd < po->size; fd++) {
        if (po->routes[fd].inlet == NULL)
            continue;
        PyObject *n = PyLong_FromLong(fd);
        if (n == NULL || PyList_Append(fds, n) < 0)
            Py_CLEAR(fds);
        Py_XDECREF(n);
    }
    return fds;
}

/* An exception from the media path goes to on_error (media.sfu logs it); it never reaches asyncio. */
static void report(Poller *po) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    PyObject *r = value != NULL ? PyObject_CallOneArg(po->on_error, value) : NULL;
    if (r == NULL && PyErr_Occurred())
        PyErr_WriteUnraisable(po->on_error);
    Py_XDECREF(r);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* Read and handle the SRTP media waiting on one socket. 1: nothing left to read; 0: the next
 * datagram is for asyncio's reader (STUN, DTLS, RTCP, media before its keys, a socket error). */
static int drain(Poller *po, int fd) {
    uint8_t buf[MAX_DATAGRAM + 1];
    for (int k = 0; k < BURST; k++) {
        Route *r = &po->routes[fd]; /* Python below may change the table */
        if (r->inlet == NULL)
            return 0;
        uint8_t head[2];
        ssize_t n = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        if (n < 2 || head[0] < 128 || head[0] > 191 || (head[1] >= 192 && head[1] <= 208))
            return 0; /* RFC 7983: not RTP; or RTCP */
        Inlet *in = r->inlet;
        PyObject *srtp = PyObject_GetAttr(r->dtls, po->srtp_name);
        if (srtp == NULL) {
            PyErr_Clear();
            return 0;
        }
        Py_DECREF(srtp); /* only its identity is compared: the inlet holds the one it was bound to */
        if (in->srtp == NULL || srtp != in->session)
            return 0; /* no keys yet, or new ones: the Python path binds them */
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        po->taken++;
        Py_INCREF(in);
        PyObject *fallback = r->fallback, *plain;
        Py_INCREF(fallback);
        int got = receive_raw(in, buf, n, &plain); /* n > MAX_DATAGRAM: refused, as on the Python path */
        if (got < 0) {
            report(po);
        } else if (got == 0) {
            PyObject *res = PyObject_CallOneArg(fallback, plain);
            Py_DECREF(plain);
            if (res == NULL)
                report(po);
            Py_XDECREF(res);
        }
        Py_DECREF(fallback);
        Py_DECREF(in);
    }
    return 0; /* more may be waiting: asyncio's turn, then this socket's again */
}

static double monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* poll(epoll_fd, timeout_ms, max_events, ready, scheduled): epoll.poll for asyncio's selector,
 * except that the media of the sockets added here is handled here. It returns [(fd, events)]
 * for asyncio as soon as anything is for it, or when the time is up, or when handling media
 * gave the loop something to do (a callback in `ready`, a timer added to `scheduled`). */
static PyObject *poller_poll(Poller *po, PyObject *args) {
    int epfd, timeout, max_events;
    PyObject *ready, *scheduled;
    if (!PyArg_ParseTuple(args, "iiiOO!", &epfd, &timeout, &max_events, &ready, &PyList_Type, &scheduled))
        return NULL;
    Py_ssize_t waiting = PyObject_Size(ready);
    if (waiting < 0)
        return NULL;
    if (max_events < 1 || max_events > MAX_EVENTS)
        max_events = MAX_EVENTS;
    Py_ssize_t timers = PyList_GET_SIZE(scheduled);
    PyObject *first = timers ? PyList_GET_ITEM(scheduled, 0) : NULL;
    double deadline = timeout > 0 ? monotonic_ms() + timeout : 0;
    PyObject *events = PyList_New(0);
    if (events == NULL)
        return NULL;
    struct epoll_event ev[MAX_EVENTS];
    for (;;) {
        int wait = timeout;
        if (timeout > 0) {
            double left = deadline - monotonic_ms();
            wait = left <= 0 ? 0 : (int)ceil(left);
        }
        int n;
        Py_BEGIN_ALLOW_THREADS
        n = epoll_wait(epfd, ev, max_events, wait);
        Py_END_ALLOW_THREADS
        if (n < 0) {
            if (errno != EINTR) {
                Py_DECREF(events);
                return PyErr_SetFromErrno(PyExc_OSError);
            }
            if (PyErr_CheckSignals() < 0) {
                Py_DECREF(events);
                return NULL;
            }
            return events; /* as EpollSelector: a signal ends the wait */
        }
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            uint32_t what = ev[i].events;
            if (fd >= 0 && fd < po->size && po->routes[fd].inlet != NULL && (what & EPOLLIN) &&
                !(what & (EPOLLERR | EPOLLHUP)) && drain(po, fd))
                what &= ~(uint32_t)EPOLLIN;
            else if (fd >= 0 && fd < po->size && po->routes[fd].inlet != NULL)
                po->returned++;
            if (what == 0)
                continue;
            PyObject *item = Py_BuildValue("(iI)", fd, what);
            if (item == NULL || PyList_Append(events, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(events);
                return NULL;
            }
            Py_DECREF(item);
        }
        if (PyList_GET_SIZE(events) || timeout == 0)
            return events;
        if (PyErr_CheckSignals() < 0) { /* a signal that came while media was handled: its handler runs now */
            Py_DECREF(events);
            return NULL;
        }
        if (PyList_GET_SIZE(scheduled) != timers || (timers && PyList_GET_ITEM(scheduled, 0) != first))
            return events; /* a timer was added or taken out: the loop's timeout may be shorter now */
        waiting = PyObject_Size(ready);
        if (waiting != 0) {
            if (waiting < 0) {
                Py_DECREF(events);
                return NULL;
            }
            return events;
        }
        if (timeout > 0 && monotonic_ms() >= deadline)
            return events;
    }
}

static PyMemberDef poller_members[] = {
    {"taken", T_ULONGLONG, offsetof(Poller, taken), READONLY, "media datagrams read and handled here"},
    {"returned", T_ULONGLONG, offsetof(Poller, returned), READONLY,
     "times a media socket was handed to asyncio's reader (a datagram for the Python path)"},
    {NULL}};

static PyGetSetDef poller_getset[] = {
    {"routes", (getter)poller_routes, NULL, "the file descriptors whose media is handled here", NULL},
    {NULL}};

static PyMethodDef poller_methods[] = {
    {"add", (PyCFunction)poller_add, METH_VARARGS,
     "add(fd, inlet, dtls, fallback): handle the SRTP media arriving on this socket with the inlet"},
    {"discard", (PyCFunction)poller_discard, METH_O, "discard(fd): asyncio reads this socket alone again"},
    {"poll", (PyCFunction)poller_poll, METH_VARARGS,
     "poll(epoll_fd, timeout_ms, max_events, ready, scheduled): [(fd, events)] for asyncio"},
    {NULL}};

static PyTypeObject PollerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._inlet.Poller",
    .tp_basicsize = sizeof(Poller),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Waits on asyncio's epoll set and handles registered sockets' media (see media/selector.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)poller_init,
    .tp_traverse = (traverseproc)poller_traverse,
    .tp_clear = (inquiry)poller_clear,
    .tp_dealloc = (destructor)poller_dealloc,
    .tp_members = poller_members,
    .tp_getset = poller_getset,
    .tp_methods = poller_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "media._inlet", "The receive path in C.", -1, NULL};

#define INTERN(var, text) ((var) = PyUnicode_InternFromString(text)) == NULL

PyMODINIT_FUNC PyInit__inlet(void) {
    PyObject *outlet_module = PyImport_ImportModule("media._outlet"); /* PyCapsule_Import imports no submodule */
    if (outlet_module == NULL)
        return NULL;
    Py_DECREF(outlet_module);
    outlet = (const outlet_api *)PyCapsule_Import(OUTLET_API, 0);
    if (outlet == NULL)
        return NULL;
    PyObject *estimator_module = PyImport_ImportModule("media._estimator");
    if (estimator_module == NULL) { /* not built: aiortc's estimator is called as a Python object */
        PyErr_Clear();
    } else {
        Py_DECREF(estimator_module);
        estimator = (const estimator_api *)PyCapsule_Import(ESTIMATOR_API, 0);
        if (estimator == NULL)
            return NULL;
    }
    if (INTERN(s_enabled, "_enabled") || INTERN(s_ssrc, "ssrc") || INTERN(s_newest, "newest") ||
        INTERN(s_packets, "packets") || INTERN(s_outlets, "outlets") || INTERN(s_level_seen, "_level_seen") ||
        INTERN(s_last_audio, "_last_audio") || INTERN(s_last_spoke, "last_spoke") ||
        INTERN(s_packets_received, "packets_received") || INTERN(s_base_seq, "base_seq") ||
        INTERN(s_max_seq, "max_seq") || INTERN(s_cycles, "cycles") || INTERN(s_jitter_q4, "_jitter_q4") ||
        INTERN(s_last_arrival, "_last_arrival") || INTERN(s_last_timestamp, "_last_timestamp") ||
        INTERN(s_missing, "missing") || INTERN(s_add, "add") || INTERN(s_on_estimate, "on_estimate") ||
        INTERN(s_send_nack, "send_nack") || INTERN(s_arm_from, "arm_from") || INTERN(s_seqs, "_seqs") ||
        INTERN(s_items, "_items") || INTERN(s_size, "size"))
        return NULL;
    if (PyType_Ready(&StreamType) < 0 || PyType_Ready(&InletType) < 0 || PyType_Ready(&PollerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&StreamType);
    Py_INCREF(&InletType);
    Py_INCREF(&PollerType);
    if (PyModule_AddObject(m, "Stream", (PyObject *)&StreamType) < 0 ||
        PyModule_AddObject(m, "Inlet", (PyObject *)&InletType) < 0 ||
        PyModule_AddObject(m, "Poller", (PyObject *)&PollerType) < 0 ||
        PyModule_AddIntConstant(m, "RTP_BUFFER", RTP_BUFFER) < 0 ||
        PyModule_AddIntConstant(m, "NACK_WINDOW", NACK_WINDOW) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DATAGRAM", MAX_DATAGRAM) < 0 ||
        PyModule_AddIntConstant(m, "EXT_ABS_SEND_TIME", EXT_ABS_SEND_TIME) < 0 ||
        PyModule_AddIntConstant(m, "EXT_AUDIO_LEVEL", EXT_AUDIO_LEVEL) < 0 ||
        PyModule_AddIntConstant(m, "EXT_UTF8", EXT_UTF8) < 0 || PyModule_AddIntConstant(m, "EXT_ASCII", EXT_ASCII) < 0 ||
        PyModule_AddIntConstant(m, "EXT_3_BYTES", EXT_3_BYTES) < 0 ||
        PyModule_AddIntConstant(m, "EXT_2_BYTES", EXT_2_BYTES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
