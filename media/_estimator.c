/* aiortc's receive-side bandwidth estimator (aiortc/rate.py, RemoteBitrateEstimator, itself
 * adapted from webrtc.org) in C, for media.sfu's publications.
 *
 * Estimator.add(arrival_time_ms, abs_send_time, payload_size, ssrc) takes one video packet and
 * returns what aiortc's add() returns: None, or (bitrate, [ssrcs]) when a REMB is due. It keeps
 * the same state with the same arithmetic in the same order (IEEE doubles, Python's rounding:
 * round() is round-half-even, int() truncates), so it gives the same answers for the same
 * packets; tests/media/test_estimator.py checks that against the installed aiortc, packet by
 * packet, with hypothesis. setup.py builds it with -ffp-contract=off so that no compiler fuses a
 * multiply and an add where Python rounds twice (aarch64 has fused instructions).
 *
 * media._inlet calls it through the capsule media._estimator._api without building Python ints;
 * media/estimator.py says how media.sfu uses it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_estimator.h"

#define WINDOW_MS 1000            /* RateCounter(1000, 8000): 1 ms buckets over one second */
#define RATE_SCALE 8000
#define BURST_DELTA_THRESHOLD_MS 5
#define MAX_ADAPT_OFFSET_MS 15
#define MIN_NUM_DELTAS 60
#define DELTA_COUNTER_MAX 1000
#define MIN_FRAME_PERIOD_HISTORY_LENGTH 60
#define INTER_ARRIVAL_SHIFT 26
#define TIMESTAMP_GROUP_LENGTH_MS 5
#define GROUP_LENGTH ((TIMESTAMP_GROUP_LENGTH_MS << INTER_ARRIVAL_SHIFT) / 1000)
#define TIMESTAMP_TO_MS (1000.0 / (double)(1 << INTER_ARRIVAL_SHIFT))
#define FEEDBACK_INTERVAL_MS 500
#define RTT_MS 200
#define MAX_SSRCS 64
/* arrival times are NTP milliseconds (~2^42 now): below 2^44 no product in the rate control can
 * overflow a long long (a gap of 2^44 ms times at most 32,000 bit/s per ms) */
#define MAX_ARRIVAL_MS (1LL << 44)

enum { NORMAL = 0, UNDERUSING = 1, OVERUSING = 2 };   /* aiortc's BandwidthUsage */
enum { HOLD = 0, INCREASE = 1, DECREASE = 2 };        /* aiortc's RateControlState */

typedef struct {
    long long arrival_time; /* set before it is ever read */
    uint32_t first_timestamp, last_timestamp;
    long long size;
} Group;

typedef struct {
    PyObject_HEAD
    /* RateCounter: incoming bitrate */
    long long bucket_count[WINDOW_MS], bucket_value[WINDOW_MS];
    long long total_count, total_value, origin_ms;
    int origin_index, has_origin, rate_initialized;
    /* InterArrival */
    Group current, previous;
    int has_current, has_previous;
    /* OveruseEstimator */
    double E[2][2], offset, previous_offset, slope, avg_noise, var_noise;
    double hist[MIN_FRAME_PERIOD_HISTORY_LENGTH];
    int hist_len, hist_start, num_of_deltas;
    /* OveruseDetector */
    int hypothesis, overuse_counter, has_overuse_time, has_detector_update;
    double overuse_time, detector_previous_offset, threshold;
    long long detector_last_update_ms;
    /* AimdRateControl */
    int has_avg_max, current_initialized, has_first_throughput, has_last_change, near_max, state;
    double avg_max_kbps, var_max_kbps;
    long long current_bitrate, first_throughput_ms, last_change_ms, latest_throughput;
    /* RemoteBitrateEstimator */
    int has_last_update;
    long long last_update_ms;
    uint32_t ssrcs[MAX_SSRCS]; /* in the order first seen, as aiortc's dict keeps them */
    int nssrcs;
} Estimator;

/* libm's pow, called as Python calls it for pow() and **: a compiler may not turn pow(x, 2.0)
 * into x * x, which rounds differently where libm's pow is not exact */
static double (*volatile libm_pow)(double, double) = pow;

static long long py_mod(long long a, long long b) { /* Python's %, for b > 0 */
    long long r = a % b;
    return r < 0 ? r + b : r;
}

static long long py_round(double x) { return (long long)nearbyint(x); } /* round-half-even */

static uint32_t u32_sub(uint32_t a, uint32_t b) { return (uint32_t)(a - b); } /* uint32_add(a, -b) */

static int u32_gt(uint32_t a, uint32_t b) { /* aiortc.utils.uint32_gt */
    const uint32_t half = 0x80000000u;
    return (a < b && b - a > half) || (a > b && a - b < half);
}

/* -- RateCounter ---------------------------------------------------------------------------- */

static void rate_reset(Estimator *e) {
    memset(e->bucket_count, 0, sizeof e->bucket_count);
    memset(e->bucket_value, 0, sizeof e->bucket_value);
    e->origin_index = 0;
    e->has_origin = 0;
    e->total_count = e->total_value = 0;
}

static void rate_erase_old(Estimator *e, long long now_ms) {
    long long new_origin = now_ms - WINDOW_MS + 1;
    if (new_origin - e->origin_ms >= WINDOW_MS) { /* every bucket goes: the same end state, at once */
        long long index = py_mod(e->origin_index + (new_origin - e->origin_ms), WINDOW_MS);
        rate_reset(e);
        e->has_origin = 1;
        e->origin_index = (int)index;
        e->origin_ms = new_origin;
        return;
    }
    while (e->origin_ms < new_origin) {
        int i = e->origin_index;
        e->total_count -= e->bucket_count[i];
        e->total_value -= e->bucket_value[i];
        e->bucket_count[i] = e->bucket_value[i] = 0;
        e->origin_index = (i + 1) % WINDOW_MS;
        e->origin_ms++;
    }
}

static void rate_add(Estimator *e, long long value, long long now_ms) {
    if (!e->has_origin) {
        e->has_origin = 1;
        e->origin_ms = now_ms;
    } else {
        rate_erase_old(e, now_ms);
    }
    int i = (int)py_mod(e->origin_index + now_ms - e->origin_ms, WINDOW_MS);
    e->bucket_count[i]++;
    e->bucket_value[i] += value;
    e->total_count++;
    e->total_value += value;
}

/* the rate in bit/s; 0 when aiortc's rate() returns None */
static int rate_rate(Estimator *e, long long now_ms, long long *rate) {
    if (!e->has_origin)
        return 0;
    rate_erase_old(e, now_ms);
    long long active = now_ms - e->origin_ms + 1;
    if (e->total_count > 0 && active > 1) {
        *rate = py_round((double)(RATE_SCALE * e->total_value) / (double)active);
        return 1;
    }
    return 0;
}

/* -- InterArrival --------------------------------------------------------------------------- */

static int belongs_to_burst(Estimator *e, uint32_t timestamp, long long arrival_time) {
    uint32_t timestamp_delta = u32_sub(timestamp, e->current.last_timestamp);
    long long timestamp_delta_ms = py_round(TIMESTAMP_TO_MS * (double)timestamp_delta);
    long long arrival_time_delta = arrival_time - e->current.arrival_time;
    return timestamp_delta_ms == 0 ||
           ((arrival_time_delta - timestamp_delta_ms) < 0 && arrival_time_delta <= BURST_DELTA_THRESHOLD_MS);
}

static void group_start(Group *g, uint32_t timestamp) {
    g->first_timestamp = g->last_timestamp = timestamp;
    g->size = 0;
    g->arrival_time = 0;
}

/* 1 with the deltas filled in when a timestamp group is complete */
static int compute_deltas(Estimator *e, uint32_t timestamp, long long arrival_time, long long size,
                          uint32_t *d_timestamp, long long *d_arrival, long long *d_size) {
    int have = 0;
    if (!e->has_current) {
        group_start(&e->current, timestamp);
        e->has_current = 1;
    } else if (u32_sub(timestamp, e->current.first_timestamp) >= 0x80000000u) { /* out of order */
        return 0;
    } else if (!belongs_to_burst(e, timestamp, arrival_time) &&
               u32_sub(timestamp, e->current.first_timestamp) > GROUP_LENGTH) { /* a new group */
        if (e->has_previous) {
            *d_timestamp = u32_sub(e->current.last_timestamp, e->previous.last_timestamp);
            *d_arrival = e->current.arrival_time - e->previous.arrival_time;
            *d_size = e->current.size - e->previous.size;
            have = 1;
        }
        e->previous = e->current;
        e->has_previous = 1;
        group_start(&e->current, timestamp);
    } else if (u32_gt(timestamp, e->current.last_timestamp)) {
        e->current.last_timestamp = timestamp;
    }
    e->current.size += size;
    e->current.arrival_time = arrival_time;
    return have;
}

/* -- OveruseEstimator ----------------------------------------------------------------------- */

static double update_min_frame_period(Estimator *e, double ts_delta) {
    double min_frame_period = ts_delta;
    if (e->hist_len >= MIN_FRAME_PERIOD_HISTORY_LENGTH) { /* pop(0) */
        e->hist_start = (e->hist_start + 1) % MIN_FRAME_PERIOD_HISTORY_LENGTH;
        e->hist_len--;
    }
    for (int k = 0; k < e->hist_len; k++) { /* min(old, min_frame_period) keeps the first if equal */
        double old = e->hist[(e->hist_start + k) % MIN_FRAME_PERIOD_HISTORY_LENGTH];
        if (old < min_frame_period)
            min_frame_period = old;
    }
    e->hist[(e->hist_start + e->hist_len) % MIN_FRAME_PERIOD_HISTORY_LENGTH] = ts_delta;
    e->hist_len++;
    return min_frame_period;
}

static void update_noise_estimate(Estimator *e, double residual, double ts_delta) {
    double alpha = 0.01;
    if (e->num_of_deltas > 10 * 30)
        alpha = 0.002;
    double beta = libm_pow(1 - alpha, ts_delta * 30.0 / 1000.0);
    e->avg_noise = beta * e->avg_noise + (1 - beta) * residual;
    e->var_noise = beta * e->var_noise + (1 - beta) * libm_pow(e->avg_noise - residual, 2.0);
    if (e->var_noise < 1)
        e->var_noise = 1;
}

static void estimator_update(Estimator *e, long long time_delta_ms, double timestamp_delta_ms, long long size_delta,
                             int hypothesis) {
    static const double process_noise[2] = {1e-13, 1e-3};
    double min_frame_period = update_min_frame_period(e, timestamp_delta_ms);
    double t_ts_delta = (double)time_delta_ms - timestamp_delta_ms;
    double h0 = (double)size_delta, h1 = 1.0;

    e->num_of_deltas = e->num_of_deltas + 1 < DELTA_COUNTER_MAX ? e->num_of_deltas + 1 : DELTA_COUNTER_MAX;
    e->E[0][0] += process_noise[0];
    e->E[1][1] += process_noise[1];
    if ((hypothesis == OVERUSING && e->offset < e->previous_offset) ||
        (hypothesis == UNDERUSING && e->offset > e->previous_offset))
        e->E[1][1] += 10 * process_noise[1];

    double Eh0 = e->E[0][0] * h0 + e->E[0][1] * h1;
    double Eh1 = e->E[1][0] * h0 + e->E[1][1] * h1;
    double residual = t_ts_delta - e->slope * h0 - e->offset;
    if (hypothesis == NORMAL) {
        double max_residual = 3.0 * sqrt(e->var_noise);
        if (fabs(residual) < max_residual)
            update_noise_estimate(e, residual, min_frame_period);
        else
            update_noise_estimate(e, residual < 0 ? -max_residual : max_residual, min_frame_period);
    }
    double denom = e->var_noise + h0 * Eh0 + h1 * Eh1;
    double K0 = Eh0 / denom, K1 = Eh1 / denom;
    double IKh00 = 1.0 - K0 * h0, IKh01 = -K0 * h1, IKh10 = -K1 * h0, IKh11 = 1.0 - K1 * h1;
    double e00 = e->E[0][0], e01 = e->E[0][1];
    e->E[0][0] = e00 * IKh00 + e->E[1][0] * IKh01;
    e->E[0][1] = e01 * IKh00 + e->E[1][1] * IKh01;
    e->E[1][0] = e00 * IKh10 + e->E[1][0] * IKh11;
    e->E[1][1] = e01 * IKh10 + e->E[1][1] * IKh11;
    e->previous_offset = e->offset;
    e->slope += K0 * residual;
    e->offset += K1 * residual;
}

/* -- OveruseDetector ------------------------------------------------------------------------ */

static void update_threshold(Estimator *e, double modified_offset, long long now_ms) {
    if (!e->has_detector_update) {
        e->has_detector_update = 1;
        e->detector_last_update_ms = now_ms;
    }
    if (fabs(modified_offset) > e->threshold + MAX_ADAPT_OFFSET_MS) {
        e->detector_last_update_ms = now_ms;
        return;
    }
    double k = fabs(modified_offset) < e->threshold ? 0.039 : 0.0087; /* k_down, k_up */
    long long time_delta_ms = now_ms - e->detector_last_update_ms;
    if (time_delta_ms > 100)
        time_delta_ms = 100;
    e->threshold += k * (fabs(modified_offset) - e->threshold) * (double)time_delta_ms;
    e->threshold = e->threshold < 600 ? e->threshold : 600;
    e->threshold = e->threshold > 6 ? e->threshold : 6;
    e->detector_last_update_ms = now_ms;
}

static void detect(Estimator *e, double offset, double timestamp_delta_ms, int num_of_deltas, long long now_ms) {
    if (num_of_deltas < 2) /* aiortc returns NORMAL here without changing its state, and ignores the answer */
        return;
    double T = (double)(num_of_deltas < MIN_NUM_DELTAS ? num_of_deltas : MIN_NUM_DELTAS) * offset;
    if (T > e->threshold) {
        if (!e->has_overuse_time) {
            e->overuse_time = timestamp_delta_ms / 2;
            e->has_overuse_time = 1;
        } else {
            e->overuse_time += timestamp_delta_ms;
        }
        e->overuse_counter++;
        if (e->overuse_time > 10 && e->overuse_counter > 1 && offset >= e->detector_previous_offset) {
            e->overuse_counter = 0;
            e->overuse_time = 0;
            e->hypothesis = OVERUSING;
        }
    } else if (T < -e->threshold) {
        e->overuse_counter = 0;
        e->has_overuse_time = 0;
        e->hypothesis = UNDERUSING;
    } else {
        e->overuse_counter = 0;
        e->has_overuse_time = 0;
        e->hypothesis = NORMAL;
    }
    e->detector_previous_offset = offset;
    update_threshold(e, T, now_ms);
}

/* -- AimdRateControl ------------------------------------------------------------------------ */

static int near_max_rate_increase(Estimator *e, long long *increase) {
    double bits_per_frame = (double)e->current_bitrate / 30;
    double packets_per_frame = ceil(bits_per_frame / (8 * 1200));
    if (packets_per_frame == 0) {
        PyErr_SetString(PyExc_ZeroDivisionError, "float division by zero"); /* as aiortc */
        return -1;
    }
    double avg_packet_size_bits = bits_per_frame / packets_per_frame;
    long long bits = (long long)((avg_packet_size_bits * 1000) / (RTT_MS + 100));
    *increase = bits > 4000 ? bits : 4000;
    return 0;
}

/* Python's int(elapsed * increase / 1000): the true division rounds the exact quotient to a
 * double, then int() truncates. Below 2^53 the product is exact as a double, so C's double division
 * rounds the same way; above it (a gap of centuries at ~32 kbit/s per ms) Python's own division
 * is used. |elapsed| < 2^44 and increase <= 32,000, so the product fits a long long. */
static int additive_increase(long long elapsed_ms, long long increase, long long *grow) {
    long long a = elapsed_ms * increase;
    if (a > -(1LL << 53) && a < (1LL << 53)) {
        *grow = (long long)((double)a / 1000);
        return 0;
    }
    PyObject *num = PyLong_FromLongLong(a), *den = PyLong_FromLong(1000);
    PyObject *q = (num && den) ? PyNumber_TrueDivide(num, den) : NULL;
    Py_XDECREF(num);
    Py_XDECREF(den);
    if (q == NULL)
        return -1;
    *grow = (long long)PyFloat_AS_DOUBLE(q);
    Py_DECREF(q);
    return 0;
}

static void update_max_throughput_estimate(Estimator *e, double kbps) {
    const double alpha = 0.05;
    if (!e->has_avg_max) {
        e->avg_max_kbps = kbps;
        e->has_avg_max = 1;
    } else {
        e->avg_max_kbps = (1 - alpha) * e->avg_max_kbps + alpha * kbps;
    }
    double norm = e->avg_max_kbps > 1 ? e->avg_max_kbps : 1;
    e->var_max_kbps = (1 - alpha) * e->var_max_kbps + alpha * libm_pow(e->avg_max_kbps - kbps, 2.0) / norm;
    e->var_max_kbps = e->var_max_kbps < 2.5 ? e->var_max_kbps : 2.5;
    e->var_max_kbps = e->var_max_kbps > 0.4 ? e->var_max_kbps : 0.4;
}

/* 1 with *bitrate set, 0 for aiortc's None, -1 with an exception set */
static int rate_control_update(Estimator *e, int usage, int has_throughput, long long throughput, long long now_ms,
                               long long *bitrate) {
    if (!e->current_initialized && has_throughput) {
        if (!e->has_first_throughput) {
            e->has_first_throughput = 1;
            e->first_throughput_ms = now_ms;
        } else if (now_ms - e->first_throughput_ms > 3000) {
            e->current_bitrate = throughput;
            e->current_initialized = 1;
        }
    }
    if (!e->current_initialized && usage != OVERUSING)
        return 0;
    if (usage == NORMAL && e->state == HOLD) {
        e->last_change_ms = now_ms;
        e->has_last_change = 1;
        e->state = INCREASE;
    } else if (usage == OVERUSING) {
        e->state = DECREASE;
    } else if (usage == UNDERUSING) {
        e->state = HOLD;
    }
    long long new_bitrate = e->current_bitrate;
    if (has_throughput)
        e->latest_throughput = throughput;
    else
        throughput = e->latest_throughput;
    double throughput_kbps = (double)throughput / 1000;

    if (e->state == INCREASE) {
        if (e->has_avg_max) {
            double sigma_kbps = sqrt(e->var_max_kbps * e->avg_max_kbps);
            if (throughput_kbps >= e->avg_max_kbps + 3 * sigma_kbps) {
                e->near_max = 0;
                e->has_avg_max = 0;
            }
        }
        if (e->near_max) {
            long long increase;
            if (near_max_rate_increase(e, &increase) < 0)
                return -1;
            long long grow;
            if (additive_increase(now_ms - e->last_change_ms, increase, &grow) < 0)
                return -1;
            new_bitrate += grow;
        } else {
            double alpha = 1.08;
            if (e->has_last_change) {
                long long elapsed_ms = now_ms - e->last_change_ms;
                alpha = libm_pow(alpha, (double)(elapsed_ms < 1000 ? elapsed_ms : 1000) / 1000);
            }
            double grow = (alpha - 1) * (double)new_bitrate;
            new_bitrate += grow > 1000 ? (long long)grow : 1000;
        }
        e->last_change_ms = now_ms;
        e->has_last_change = 1;
    } else if (e->state == DECREASE) {
        if (e->has_avg_max) {
            double sigma_kbps = sqrt(e->var_max_kbps * e->avg_max_kbps);
            if (throughput_kbps < e->avg_max_kbps - 3 * sigma_kbps)
                e->has_avg_max = 0;
        }
        update_max_throughput_estimate(e, throughput_kbps);
        e->near_max = 1;
        new_bitrate = py_round(0.85 * (double)throughput);
        e->last_change_ms = now_ms;
        e->has_last_change = 1;
        e->state = HOLD;
    }
    long long max_bitrate = (long long)(1.5 * (double)throughput) + 10000;
    if (max_bitrate < e->current_bitrate)
        max_bitrate = e->current_bitrate;
    e->current_bitrate = new_bitrate < max_bitrate ? new_bitrate : max_bitrate;
    *bitrate = e->current_bitrate;
    return 1;
}

/* -- RemoteBitrateEstimator.add ------------------------------------------------------------- */

static void note_ssrc(Estimator *e, uint32_t ssrc) {
    for (int i = 0; i < e->nssrcs; i++)
        if (e->ssrcs[i] == ssrc)
            return;
    if (e->nssrcs == MAX_SSRCS) { /* a stream restarted this often: forget the oldest */
        memmove(e->ssrcs, e->ssrcs + 1, sizeof(uint32_t) * (MAX_SSRCS - 1));
        e->nssrcs--;
    }
    e->ssrcs[e->nssrcs++] = ssrc;
}

static PyObject *estimate(Estimator *e, long long bitrate) {
    PyObject *ssrcs = PyList_New(e->nssrcs);
    if (ssrcs == NULL)
        return NULL;
    for (int i = 0; i < e->nssrcs; i++) {
        PyObject *s = PyLong_FromUnsignedLong(e->ssrcs[i]);
        if (s == NULL) {
            Py_DECREF(ssrcs);
            return NULL;
        }
        PyList_SET_ITEM(ssrcs, i, s);
    }
    return Py_BuildValue("(LN)", bitrate, ssrcs);
}

static PyObject *estimator_add_c(PyObject *self, long long arrival_time_ms, uint32_t abs_send_time,
                                 long long payload_size, uint32_t ssrc) {
    Estimator *e = (Estimator *)self;
    uint32_t timestamp = abs_send_time << 8;
    long long rate = 0;
    note_ssrc(e, ssrc);
    if (rate_rate(e, arrival_time_ms, &rate)) {
        e->rate_initialized = 1;
    } else if (e->rate_initialized) {
        rate_reset(e);
        e->rate_initialized = 0;
    }
    rate_add(e, payload_size, arrival_time_ms);

    uint32_t d_timestamp;
    long long d_arrival, d_size;
    if (compute_deltas(e, timestamp, arrival_time_ms, payload_size, &d_timestamp, &d_arrival, &d_size)) {
        double timestamp_delta_ms = (double)d_timestamp * TIMESTAMP_TO_MS;
        estimator_update(e, d_arrival, timestamp_delta_ms, d_size, e->hypothesis);
        detect(e, e->offset, timestamp_delta_ms, e->num_of_deltas, arrival_time_ms);
    }
    if (!e->has_last_update || arrival_time_ms - e->last_update_ms > FEEDBACK_INTERVAL_MS ||
        e->hypothesis == OVERUSING) {
        int has_rate = rate_rate(e, arrival_time_ms, &rate);
        long long bitrate;
        int r = rate_control_update(e, e->hypothesis, has_rate, rate, arrival_time_ms, &bitrate);
        if (r < 0)
            return NULL;
        if (r == 1) {
            e->has_last_update = 1;
            e->last_update_ms = arrival_time_ms;
            return estimate(e, bitrate);
        }
    }
    Py_RETURN_NONE;
}

static estimator_api api = {NULL, estimator_add_c};

/* -- the Python type ------------------------------------------------------------------------ */

static int estimator_init(Estimator *e, PyObject *args, PyObject *kwds) {
    static char *names[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":Estimator", names))
        return -1;
    /* aiortc's initial values; every other field starts at zero (flags: "None" / False) */
    memset((char *)e + sizeof(PyObject), 0, sizeof(Estimator) - sizeof(PyObject));
    e->rate_initialized = 1;
    e->E[0][0] = 100.0;
    e->E[1][1] = 0.1;
    e->slope = 1.0 / 64;
    e->var_noise = 50.0;
    e->threshold = 12.5;
    e->var_max_kbps = 0.4;
    e->current_bitrate = e->latest_throughput = 30000000;
    e->hypothesis = NORMAL; /* 0, as HOLD below: named for the reader */
    e->state = HOLD;
    return 0;
}

static PyObject *estimator_add(PyObject *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"arrival_time_ms", "abs_send_time", "payload_size", "ssrc", NULL};
    long long arrival_time_ms, abs_send_time, payload_size, ssrc;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LLLL:add", names, &arrival_time_ms, &abs_send_time, &payload_size,
                                     &ssrc))
        return NULL;
    if (abs_send_time < 0 || abs_send_time > 0xFFFFFF) {
        PyErr_SetString(PyExc_ValueError, "abs_send_time is a 24-bit value");
        return NULL;
    }
    if (ssrc < 0 || ssrc > 0xFFFFFFFFLL) {
        PyErr_SetString(PyExc_ValueError, "ssrc is a 32-bit value");
        return NULL;
    }
    if (payload_size < 0 || payload_size > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "payload_size is out of range");
        return NULL;
    }
    if (arrival_time_ms < 0 || arrival_time_ms >= MAX_ARRIVAL_MS) {
        PyErr_SetString(PyExc_ValueError, "arrival_time_ms is out of range");
        return NULL;
    }
    return estimator_add_c(self, arrival_time_ms, (uint32_t)abs_send_time, payload_size, (uint32_t)ssrc);
}

static PyObject *estimator_snapshot(Estimator *e, PyObject *unused) {
    return Py_BuildValue("{s:d,s:d,s:d,s:d,s:i,s:d,s:i,s:L,s:i,s:d}", "offset", e->offset, "slope", e->slope,
                         "avg_noise", e->avg_noise, "var_noise", e->var_noise, "num_of_deltas", e->num_of_deltas,
                         "threshold", e->threshold, "hypothesis", e->hypothesis, "current_bitrate",
                         e->current_bitrate, "state", e->state, "var_max_kbps", e->var_max_kbps);
}

static PyMethodDef estimator_methods[] = {
    {"add", (PyCFunction)(void (*)(void))estimator_add, METH_VARARGS | METH_KEYWORDS,
     "add(arrival_time_ms, abs_send_time, payload_size, ssrc): None, or (bitrate, [ssrcs]) when a REMB is due"},
    {"snapshot", (PyCFunction)estimator_snapshot, METH_NOARGS,
     "the filter's state, named as aiortc's attributes (for tests)"},
    {NULL}};

static PyTypeObject EstimatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._estimator.Estimator",
    .tp_basicsize = sizeof(Estimator),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "aiortc's RemoteBitrateEstimator in C (see media/estimator.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)estimator_init,
    .tp_methods = estimator_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "media._estimator",
                                    "aiortc's receive-side bandwidth estimator in C.", -1, NULL};

PyMODINIT_FUNC PyInit__estimator(void) {
    if (PyType_Ready(&EstimatorType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    api.type = &EstimatorType;
    Py_INCREF(&EstimatorType);
    PyObject *capsule = PyCapsule_New((void *)&api, ESTIMATOR_API, NULL);
    if (capsule == NULL || PyModule_AddObject(m, "Estimator", (PyObject *)&EstimatorType) < 0 ||
        PyModule_AddObject(m, "_api", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
