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

static PyObject *inlet_receive(Inlet *in, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "receive(data): bytes");
        return NULL;
    }
    if (in->srtp == NULL || in->unprotect == NULL) {
        PyErr_SetString(PyExc_ValueError, "receive: no SRTP session bound");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    uint8_t buf[RTP_BUFFER] __attribute__((aligned(16)));
    if (n < 12 || n > MAX_DATAGRAM) { /* as the Python path: refused */
        in->refused++;
        Py_RETURN_NONE;
    }
    memcpy(buf, PyBytes_AS_STRING(arg), (size_t)n);
    int len = (int)n;
    if (in->unprotect(in->srtp, buf, &len) != 0) { /* does not authenticate, or a replay */
        in->refused++;
        Py_RETURN_NONE;
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
            return NULL;
        }
        if (none == 1 || pub_ssrc != (long long)h.ssrc)
            Py_CLEAR(st); /* none yet, or the publisher restarted its stream: the Python path */
    }
    if (st == NULL) /* the Python path parses it (and refuses what is malformed) */
        return PyBytes_FromStringAndSize((const char *)buf, len);
    int r = handle(st, buf, len, &h);
    Py_DECREF(st);
    if (r < 0)
        return NULL;
    in->handled++;
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
    if (PyType_Ready(&StreamType) < 0 || PyType_Ready(&InletType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&StreamType);
    Py_INCREF(&InletType);
    if (PyModule_AddObject(m, "Stream", (PyObject *)&StreamType) < 0 ||
        PyModule_AddObject(m, "Inlet", (PyObject *)&InletType) < 0 ||
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
