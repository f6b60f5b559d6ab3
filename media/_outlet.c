/* The forwarding loop of media.sfu in C: per subscriber leg, write the RTP header, SRTP-protect,
 * send. media/outlet.py holds the same types in Python (used when this is not built) and says
 * what each does; tests/media/test_outlet.py checks that both write the same bytes.
 *
 * Path:   one subscriber connection's way out: its DTLS transport (state, SRTP session), its ICE
 *         connection's nominated pair and that pair's socket. Before every packet it checks that
 *         the transport is connected and that the pair and session are the ones it was bound to.
 * Outlet: one leg: payload type map, SSRC, sequence/timestamp offsets, header extensions.
 * fanout: one publisher packet to a list of outlets.
 *
 * libsrtp's srtp_protect is called through the address pylibsrtp's cffi binding gives
 * (media/internals.py checks its signature against the pinned pylibsrtp).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "_outlet.h"

#define MAX_MID 258       /* a MID element: two-byte header and up to 256 bytes of MID */
#define MAX_EXT 272       /* MID element + abs-send-time + audio level + padding */

#define IDLE 0
#define ARMED 1
#define WAITING 2

typedef int (*protect_fn)(void *ctx, void *rtp, int *len);

typedef struct {
    PyObject_HEAD
    PyObject *dtls;
    PyObject *state_name;
    PyObject *connected;
    PyObject *session_name;
    PyObject *nominated; /* dict: component -> CandidatePair */
    protect_fn protect;
    /* bound (pair == NULL when not) */
    PyObject *pair;
    PyObject *session;
    PyObject *sock;
    void *srtp;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} Path;

typedef struct {
    PyObject_HEAD
    Path *path;
    int state;
    uint32_t ssrc;
    uint32_t ts_offset;
    uint16_t seq_offset;
    uint16_t start_seq;
    int16_t pts[128]; /* -1: not known yet (WAITING), -2: not forwarded */
    uint16_t profile;
    uint8_t mid[MAX_MID];
    Py_ssize_t mid_len;
    uint8_t abs_hdr[2];
    Py_ssize_t abs_len;
    uint8_t level_hdr[2];
    Py_ssize_t level_len;
    unsigned long long sent;
    unsigned long long octets;
} Outlet;

static PyTypeObject PathType;
static PyTypeObject OutletType;
static PyObject *one;      /* the ICE component of RTP */
static PyObject *fileno_s; /* "fileno" */

/* ---------------------------------------------------------------------------------------- Path */

static void path_unbind(Path *p) {
    Py_CLEAR(p->pair);
    Py_CLEAR(p->session);
    Py_CLEAR(p->sock);
    p->srtp = NULL;
    p->addrlen = 0;
}

static int path_init(Path *p, PyObject *args, PyObject *kw) {
    static char *names[] = {"dtls", "state_name", "connected", "session_name", "nominated", "protect", NULL};
    PyObject *dtls, *state_name, *connected, *session_name, *nominated;
    unsigned long long protect;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OUOUO!K", names, &dtls, &state_name, &connected,
                                     &session_name, &PyDict_Type, &nominated, &protect))
        return -1;
    if (!protect) {
        PyErr_SetString(PyExc_ValueError, "protect: the address of srtp_protect is needed");
        return -1;
    }
    path_unbind(p);
    Py_INCREF(dtls); Py_XSETREF(p->dtls, dtls);
    Py_INCREF(state_name); Py_XSETREF(p->state_name, state_name);
    Py_INCREF(connected); Py_XSETREF(p->connected, connected);
    Py_INCREF(session_name); Py_XSETREF(p->session_name, session_name);
    Py_INCREF(nominated); Py_XSETREF(p->nominated, nominated);
    p->protect = (protect_fn)(uintptr_t)protect;
    return 0;
}

static int path_traverse(Path *p, visitproc visit, void *arg) {
    Py_VISIT(p->dtls); Py_VISIT(p->state_name); Py_VISIT(p->connected); Py_VISIT(p->session_name);
    Py_VISIT(p->nominated); Py_VISIT(p->pair); Py_VISIT(p->session); Py_VISIT(p->sock);
    return 0;
}

static int path_clear(Path *p) {
    path_unbind(p);
    Py_CLEAR(p->dtls); Py_CLEAR(p->state_name); Py_CLEAR(p->connected); Py_CLEAR(p->session_name);
    Py_CLEAR(p->nominated);
    return 0;
}

static void path_dealloc(Path *p) {
    PyObject_GC_UnTrack(p);
    path_clear(p);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

/* The socket's descriptor if the path is bound and still what the transport uses, else -1.
 * Never raises (a failing attribute read counts as "not valid"). */
static int path_fd(Path *p) {
    if (p->pair == NULL)
        return -1;
    PyObject *state = PyObject_GetAttr(p->dtls, p->state_name);
    if (state == NULL) { PyErr_Clear(); return -1; }
    Py_DECREF(state); /* compared by identity; the enum member outlives us */
    if (state != p->connected)
        return -1;
    PyObject *pair = PyDict_GetItemWithError(p->nominated, one); /* borrowed */
    if (pair != p->pair) { PyErr_Clear(); return -1; }
    PyObject *session = PyObject_GetAttr(p->dtls, p->session_name);
    if (session == NULL) { PyErr_Clear(); return -1; }
    Py_DECREF(session);
    if (session != p->session)
        return -1;
    PyObject *fd = PyObject_CallMethodNoArgs(p->sock, fileno_s);
    if (fd == NULL) { PyErr_Clear(); return -1; }
    long n = PyLong_AsLong(fd);
    Py_DECREF(fd);
    if (n == -1 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
    if (p->pair == NULL || p->srtp == NULL) /* unbound by whatever Python ran meanwhile */
        return -1;
    return (int)n;
}

/* Protect `len` bytes in buf (room for the trailer behind them) and send them. */
static void path_write(Path *p, int fd, uint8_t *buf, int len) {
    if (p->protect(p->srtp, buf, &len) != 0)
        return; /* libsrtp refused it: dropped, as aiortc drops it */
    /* a full socket buffer or an unreachable peer loses this packet, as on the network */
    (void)sendto(fd, buf, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&p->addr, p->addrlen);
}

static PyObject *path_bind(Path *p, PyObject *args, PyObject *kw) {
    static char *names[] = {"pair", "session", "srtp", "sock", "sockaddr", NULL};
    PyObject *pair, *session, *sock;
    unsigned long long srtp;
    Py_buffer sa;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOKOy*", names, &pair, &session, &srtp, &sock, &sa))
        return NULL;
    if (sa.len < (Py_ssize_t)sizeof(sa_family_t) || sa.len > (Py_ssize_t)sizeof(struct sockaddr_storage) || !srtp) {
        PyBuffer_Release(&sa);
        PyErr_SetString(PyExc_ValueError, "a socket address and an SRTP context are needed");
        return NULL;
    }
    path_unbind(p);
    memset(&p->addr, 0, sizeof(p->addr));
    memcpy(&p->addr, sa.buf, (size_t)sa.len);
    p->addrlen = (socklen_t)sa.len;
    PyBuffer_Release(&sa);
    Py_INCREF(pair); p->pair = pair;
    Py_INCREF(session); p->session = session;
    Py_INCREF(sock); p->sock = sock;
    p->srtp = (void *)(uintptr_t)srtp;
    Py_RETURN_NONE;
}

static PyObject *path_unbind_py(Path *p, PyObject *unused) {
    path_unbind(p);
    Py_RETURN_NONE;
}

static PyObject *path_attach(Path *p, PyObject *nominated) {
    if (!PyDict_Check(nominated)) {
        PyErr_SetString(PyExc_TypeError, "nominated must be a dict");
        return NULL;
    }
    path_unbind(p);
    Py_INCREF(nominated);
    Py_XSETREF(p->nominated, nominated);
    Py_RETURN_NONE;
}

static PyObject *path_valid(Path *p, PyObject *unused) {
    return PyBool_FromLong(path_fd(p) >= 0);
}

static PyObject *path_send(Path *p, PyObject *arg) {
    Py_buffer data;
    uint8_t buf[RTP_BUFFER] __attribute__((aligned(16)));
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    int fd = path_fd(p);
    int ok = fd >= 0 && data.len <= RTP_BUFFER - SRTP_TRAILER;
    if (ok) {
        memcpy(buf, data.buf, (size_t)data.len);
        path_write(p, fd, buf, (int)data.len);
    }
    PyBuffer_Release(&data);
    return PyBool_FromLong(ok);
}

static PyObject *path_get_bound(Path *p, void *closure) {
    return PyBool_FromLong(p->pair != NULL);
}

static PyObject *path_get_pair(Path *p, void *closure) {
    PyObject *pair = p->pair ? p->pair : Py_None;
    Py_INCREF(pair);
    return pair;
}

static PyMethodDef path_methods[] = {
    {"bind", (PyCFunction)(void (*)(void))path_bind, METH_VARARGS | METH_KEYWORDS,
     "bind(pair, session, srtp, sock, sockaddr): send on this pair's socket with this SRTP session"},
    {"unbind", (PyCFunction)path_unbind_py, METH_NOARGS, "forget the pair, session and socket"},
    {"attach", (PyCFunction)path_attach, METH_O, "attach(nominated): another ICE connection's pairs"},
    {"valid", (PyCFunction)path_valid, METH_NOARGS, "bound, connected, and still the transport's pair and session"},
    {"send", (PyCFunction)path_send, METH_O, "send(rtp): protect and send one packet; False if dropped"},
    {NULL}};

static PyGetSetDef path_getset[] = {
    {"bound", (getter)path_get_bound, NULL, "whether a pair is bound", NULL},
    {"pair", (getter)path_get_pair, NULL, "the bound pair, or None", NULL},
    {NULL}};

static PyTypeObject PathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._outlet.Path",
    .tp_basicsize = sizeof(Path),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One subscriber connection's way out (see media/outlet.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)path_init,
    .tp_traverse = (traverseproc)path_traverse,
    .tp_clear = (inquiry)path_clear,
    .tp_dealloc = (destructor)path_dealloc,
    .tp_methods = path_methods,
    .tp_getset = path_getset,
};

/* -------------------------------------------------------------------------------------- Outlet */

static int outlet_init(Outlet *o, PyObject *args, PyObject *kw) {
    static char *names[] = {"path", "ssrc", NULL};
    PyObject *path;
    unsigned long ssrc;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!k", names, &PathType, &path, &ssrc))
        return -1;
    if (ssrc > 0xFFFFFFFFUL) {
        PyErr_SetString(PyExc_ValueError, "ssrc is a 32-bit number");
        return -1;
    }
    Py_INCREF(path);
    Py_XSETREF(o->path, (Path *)path);
    o->ssrc = (uint32_t)ssrc;
    o->state = IDLE;
    for (int i = 0; i < 128; i++)
        o->pts[i] = -1;
    o->profile = 0xBEDE;
    o->mid_len = o->abs_len = o->level_len = 0;
    return 0;
}

static int outlet_traverse(Outlet *o, visitproc visit, void *arg) {
    Py_VISIT(o->path);
    return 0;
}

static int outlet_clear(Outlet *o) {
    Py_CLEAR(o->path);
    return 0;
}

static void outlet_dealloc(Outlet *o) {
    PyObject_GC_UnTrack(o);
    outlet_clear(o);
    Py_TYPE(o)->tp_free((PyObject *)o);
}

static int copy_element(const char *what, PyObject *src, uint8_t *dst, Py_ssize_t cap, Py_ssize_t *len) {
    if (!PyBytes_Check(src) || PyBytes_GET_SIZE(src) > cap) {
        PyErr_Format(PyExc_ValueError, "%s: at most %zd bytes", what, cap);
        return -1;
    }
    *len = PyBytes_GET_SIZE(src);
    memcpy(dst, PyBytes_AS_STRING(src), (size_t)*len);
    return 0;
}

static PyObject *outlet_set_header(Outlet *o, PyObject *args) {
    PyObject *mid, *abs_hdr, *level_hdr;
    unsigned int profile;
    if (!PyArg_ParseTuple(args, "SSSI", &mid, &abs_hdr, &level_hdr, &profile))
        return NULL;
    if (profile != 0xBEDE && profile != 0x1000) {
        PyErr_SetString(PyExc_ValueError, "profile: 0xBEDE (one-byte) or 0x1000 (two-byte)");
        return NULL;
    }
    Py_ssize_t mid_len, abs_len, level_len;
    uint8_t m[MAX_MID], a[2], l[2];
    if (copy_element("mid", mid, m, MAX_MID, &mid_len) < 0 || copy_element("abs", abs_hdr, a, 2, &abs_len) < 0 ||
        copy_element("level", level_hdr, l, 2, &level_len) < 0)
        return NULL;
    memcpy(o->mid, m, (size_t)mid_len); o->mid_len = mid_len;
    memcpy(o->abs_hdr, a, 2); o->abs_len = abs_len;
    memcpy(o->level_hdr, l, 2); o->level_len = level_len;
    o->profile = (uint16_t)profile;
    Py_RETURN_NONE;
}

static PyObject *outlet_set_pt(Outlet *o, PyObject *args) {
    int theirs, ours;
    if (!PyArg_ParseTuple(args, "ii", &theirs, &ours))
        return NULL;
    if (theirs < 0 || theirs > 127 || ours < -2 || ours > 127) {
        PyErr_SetString(PyExc_ValueError, "payload types are 0-127 (-1 unknown, -2 not forwarded)");
        return NULL;
    }
    o->pts[theirs] = (int16_t)ours;
    Py_RETURN_NONE;
}

static PyObject *outlet_clear_pts(Outlet *o, PyObject *unused) {
    for (int i = 0; i < 128; i++)
        o->pts[i] = -1;
    Py_RETURN_NONE;
}

static PyObject *outlet_arm(Outlet *o, PyObject *args) {
    unsigned int start_seq, seq_offset;
    unsigned long ts_offset;
    if (!PyArg_ParseTuple(args, "IIk", &start_seq, &seq_offset, &ts_offset))
        return NULL;
    o->start_seq = (uint16_t)start_seq;
    o->seq_offset = (uint16_t)seq_offset;
    o->ts_offset = (uint32_t)ts_offset;
    o->state = ARMED;
    Py_RETURN_NONE;
}

static int outlet_set_state(Outlet *o, PyObject *value, void *closure) {
    long s = value ? PyLong_AsLong(value) : -1;
    if (s == -1 && PyErr_Occurred())
        return -1;
    if (s != IDLE && s != WAITING) {
        PyErr_SetString(PyExc_ValueError, "state: IDLE or WAITING (arm() arms)");
        return -1;
    }
    o->state = (int)s;
    return 0;
}

static PyObject *outlet_get_state(Outlet *o, void *closure) {
    return PyLong_FromLong(o->state);
}

static PyObject *outlet_get_path(Outlet *o, void *closure) {
    Py_INCREF(o->path);
    return (PyObject *)o->path;
}

static PyMemberDef outlet_members[] = {
    {"ssrc", T_UINT, offsetof(Outlet, ssrc), READONLY, "the leg's SSRC"},
    {"sent", T_ULONGLONG, offsetof(Outlet, sent), 0, "packets written"},
    {"octets", T_ULONGLONG, offsetof(Outlet, octets), 0, "payload bytes written"},
    {NULL}};

static PyGetSetDef outlet_getset[] = {
    {"state", (getter)outlet_get_state, (setter)outlet_set_state, "IDLE, ARMED or WAITING", NULL},
    {"path", (getter)outlet_get_path, NULL, "the connection it sends on", NULL},
    {NULL}};

static PyMethodDef outlet_methods[] = {
    {"set_header", (PyCFunction)outlet_set_header, METH_VARARGS,
     "set_header(mid_element, abs_element, level_element, profile): the leg's extensions (as RtpWriter)"},
    {"set_pt", (PyCFunction)outlet_set_pt, METH_VARARGS, "set_pt(theirs, ours): ours -2 drops, -1 asks again"},
    {"clear_pts", (PyCFunction)outlet_clear_pts, METH_NOARGS, "forget every payload type"},
    {"arm", (PyCFunction)outlet_arm, METH_VARARGS, "arm(start_seq, seq_offset, ts_offset): forward from here"},
    {NULL}};

static PyTypeObject OutletType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._outlet.Outlet",
    .tp_basicsize = sizeof(Outlet),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One leg's header state (see media/outlet.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)outlet_init,
    .tp_traverse = (traverseproc)outlet_traverse,
    .tp_clear = (inquiry)outlet_clear,
    .tp_dealloc = (destructor)outlet_dealloc,
    .tp_members = outlet_members,
    .tp_getset = outlet_getset,
    .tp_methods = outlet_methods,
};

/* -------------------------------------------------------------------------------------- fanout */

static inline void put16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v; }
static inline void put32(uint8_t *b, uint32_t v) {
    b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); b[2] = (uint8_t)(v >> 8); b[3] = (uint8_t)v;
}

/* The packet for one outlet into buf; its length, or -1 if it does not fit. */
static int write_packet(const Outlet *o, uint8_t *buf, int pt, int marker, uint16_t seq, uint32_t ts,
                        const uint8_t *payload, Py_ssize_t payload_len, long abs_time, long level) {
    uint8_t ext[MAX_EXT];
    Py_ssize_t n = 0;
    memcpy(ext, o->mid, (size_t)o->mid_len);
    n = o->mid_len;
    if (abs_time >= 0 && o->abs_len) {
        memcpy(ext + n, o->abs_hdr, (size_t)o->abs_len);
        n += o->abs_len;
        ext[n++] = (uint8_t)(abs_time >> 16); ext[n++] = (uint8_t)(abs_time >> 8); ext[n++] = (uint8_t)abs_time;
    }
    if (level >= 0 && o->level_len) {
        memcpy(ext + n, o->level_hdr, (size_t)o->level_len);
        n += o->level_len;
        ext[n++] = (uint8_t)level;
    }
    Py_ssize_t header = n ? 16 + ((n + 3) & ~(Py_ssize_t)3) : 12;
    if (header + payload_len > RTP_BUFFER - SRTP_TRAILER)
        return -1;
    buf[0] = n ? 0x90 : 0x80;
    buf[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
    put16(buf + 2, seq);
    put32(buf + 4, ts);
    put32(buf + 8, o->ssrc);
    if (n) {
        put16(buf + 12, o->profile);
        put16(buf + 14, (uint16_t)((header - 16) >> 2));
        memcpy(buf + 16, ext, (size_t)n);
        memset(buf + 16 + n, 0, (size_t)(header - 16 - n));
    }
    memcpy(buf + header, payload, (size_t)payload_len);
    return (int)(header + payload_len);
}

/* One packet to every ARMED outlet in the list: the number left WAITING, or -1 with an exception set
 * (an item that is not an Outlet). The list may change while a path is checked (that runs Python). */
static long fanout_core(PyObject *outlets, const uint8_t *payload, Py_ssize_t payload_len, long pt, long marker,
                        long seq, unsigned long ts, long abs_time, long level) {
    uint8_t buf[RTP_BUFFER] __attribute__((aligned(16)));
    long waiting = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(outlets); i++) { /* re-read: checking a path runs Python */
        PyObject *item = PyList_GET_ITEM(outlets, i);
        if (Py_TYPE(item) != &OutletType) {
            PyErr_SetString(PyExc_TypeError, "fanout: every item must be an Outlet");
            return -1;
        }
        Outlet *o = (Outlet *)item;
        if (o->state == IDLE)
            continue;
        if (o->state == WAITING) {
            waiting++;
            continue;
        }
        if ((uint16_t)((uint16_t)seq - o->start_seq) >= 0x8000)
            continue; /* older than where this leg started */
        int out_pt = o->pts[pt];
        if (out_pt == -2)
            continue;
        Py_INCREF(item); /* the list may change while the path is checked */
        Path *path = o->path;
        int fd = out_pt >= 0 ? path_fd(path) : -1;
        if (fd < 0) { /* a new payload type, or the path changed: the leg asks media.sfu again */
            o->state = WAITING;
            waiting++;
        } else {
            int len = write_packet(o, buf, out_pt, (int)marker, (uint16_t)(seq + o->seq_offset),
                                   (uint32_t)(ts + o->ts_offset), payload, payload_len, abs_time, level);
            if (len >= 0) {
                path_write(path, fd, buf, len);
                o->sent++;
                o->octets += (unsigned long long)payload_len;
            }
        }
        Py_DECREF(item);
    }
    return waiting;
}

static PyObject *fanout(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "fanout(outlets, payload, payload_type, marker, seq, timestamp, abs_send_time, audio_level)");
        return NULL;
    }
    PyObject *outlets = args[0];
    if (!PyList_Check(outlets) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "fanout: a list of outlets and a bytes payload");
        return NULL;
    }
    long pt = PyLong_AsLong(args[2]), marker = PyLong_AsLong(args[3]), seq = PyLong_AsLong(args[4]);
    unsigned long ts = PyLong_AsUnsignedLongMask(args[5]);
    long abs_time = PyLong_AsLong(args[6]), level = PyLong_AsLong(args[7]);
    if (PyErr_Occurred())
        return NULL;
    if (pt < 0 || pt > 127 || seq < 0 || seq > 0xFFFF || abs_time > 0xFFFFFF || level > 0xFF) {
        PyErr_SetString(PyExc_ValueError, "fanout: payload type, sequence number or extension out of range");
        return NULL;
    }
    long waiting = fanout_core(outlets, (const uint8_t *)PyBytes_AS_STRING(args[1]), PyBytes_GET_SIZE(args[1]), pt,
                               marker, seq, ts, abs_time, level);
    return waiting < 0 ? NULL : PyLong_FromLong(waiting);
}

/* For media._inlet, which forwards what it receives without going back to Python. */
static const outlet_api api = {fanout_core};

static PyMethodDef module_methods[] = {
    {"fanout", (PyCFunction)(void (*)(void))fanout, METH_FASTCALL,
     "fanout(outlets, payload, payload_type, marker, seq, timestamp, abs_send_time, audio_level) -> waiting"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "media._outlet", "The forwarding loop in C.", -1,
                                    module_methods};

PyMODINIT_FUNC PyInit__outlet(void) {
    if (PyType_Ready(&PathType) < 0 || PyType_Ready(&OutletType) < 0)
        return NULL;
    one = PyLong_FromLong(1);
    fileno_s = PyUnicode_InternFromString("fileno");
    if (one == NULL || fileno_s == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PathType);
    Py_INCREF(&OutletType);
    if (PyModule_AddObject(m, "Path", (PyObject *)&PathType) < 0 ||
        PyModule_AddObject(m, "Outlet", (PyObject *)&OutletType) < 0 ||
        PyModule_AddIntConstant(m, "IDLE", IDLE) < 0 || PyModule_AddIntConstant(m, "ARMED", ARMED) < 0 ||
        PyModule_AddIntConstant(m, "WAITING", WAITING) < 0 ||
        PyModule_AddIntConstant(m, "RTP_BUFFER", RTP_BUFFER) < 0 ||
        PyModule_AddIntConstant(m, "SRTP_TRAILER", SRTP_TRAILER) < 0 ||
        PyModule_AddObject(m, "_api", PyCapsule_New((void *)&api, OUTLET_API, NULL)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
