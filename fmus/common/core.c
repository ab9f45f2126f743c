/* core.c - FMI-version-neutral instance logic: values, modes, checks, logging, events, CS solvers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* access flags generated into vars.h: A_INIT settable before/in initialization, A_STEP after */

__attribute__((weak)) void model_initialize(Instance *M) { (void)M; }

static void vlog(Instance *M, Status st, const char *category, const char *fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (M && M->sink) M->sink(M, st, category, buf);
}

void log_error(Instance *M, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(M, ST_ERROR, "logStatusError", fmt, ap);
    va_end(ap);
}

void log_warning(Instance *M, const char *fmt, ...) {
    if (!M) return;
    M->warned = true;
    va_list ap;
    va_start(ap, fmt);
    vlog(M, ST_WARNING, "logStatusWarning", fmt, ap);
    va_end(ap);
}

void log_info(Instance *M, const char *fmt, ...) {
    if (!M || !M->logging_on) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(M, ST_OK, "logEvents", fmt, ap);
    va_end(ap);
}

Instance *core_new(const char *name, bool is_cosim, LogSink sink, void *env, void *env2,
                   bool logging_on) {
    Instance *M = calloc(1, sizeof(Instance));
    if (!M) return NULL;
    M->name = strdup(name ? name : MODEL_NAME);
    M->is_cosim = is_cosim;
    M->sink = sink;
    M->env = env;
    M->env2 = env2;
    M->logging_on = logging_on;
    core_reset(M);
    return M;
}

void core_free(Instance *M) {
    if (!M) return;
    free(M->name);
    free(M);
}

void core_reset(Instance *M) {
    memset(&M->s, 0, sizeof M->s);
    set_start_values(&M->s);
    M->mode = MODE_INSTANTIATED;
    M->dirty = true;
}

Status core_check_mode(Instance *M, const char *function, int allowed) {
    if (!M) return ST_FATAL;
    if (allowed & (1 << M->mode)) return ST_OK;
    log_error(M, "%s must not be called in the current state (mode %d)", function, (int)M->mode);
    return ST_ERROR;
}

Status core_check_discrete(Instance *M, const char *function) {
    if (!M) return ST_FATAL;
    if (M->is_cosim || M->mode != MODE_STEP) return ST_OK;
    log_error(M, "%s must not be called in Continuous-Time Mode: discrete variables (Integer, "
              "Boolean) change only in Event Mode", function);
    return ST_ERROR;
}

static Status check_finite(Instance *M) {
    for (int k = 1; k < N_REAL; k++) {
        if (!isfinite(M->s.real_[k])) {
            log_error(M, "variable %s is not finite (%g) at t=%g", REAL_NAMES[k], M->s.real_[k],
                      M->s.time);
            M->mode = MODE_ERROR;
            return ST_ERROR;
        }
    }
    return ST_OK;
}

Status core_eval(Instance *M) {
    if (!M->dirty) return ST_OK;
    /* initialization mode: states that start from parameters follow them (initial=calculated) */
    if (M->mode == MODE_INITIALIZATION && !M->s.initialized) model_initialize(M);
    M->warned = false;
    model_eval(M);
#if N_EVENT_INDICATORS > 0
    model_event_indicators(M, &M->s.real_[Z_INDEX]);
#endif
    M->dirty = false;
    Status st = check_finite(M);
    return st == ST_OK && M->warned ? ST_WARNING : st;
}

Status core_exit_initialization(Instance *M) {
    if (!model_check(M)) {
        M->mode = MODE_ERROR;
        return ST_ERROR;
    }
    if (!M->s.initialized) {
        model_initialize(M);
        M->s.initialized = true;
    }
    M->dirty = true;
    Status st = core_eval(M);
    if (st > ST_WARNING) return st;
    if (M->is_cosim && !M->event_mode_used) { /* the importer does no event iteration */
        Status ev = core_initial_events(M);
        if (ev > st) st = ev;
    }
    return st;
}

/* ---- value access ---------------------------------------------------------------------- */
static bool settable(Instance *M, unsigned char access) {
    if (M->mode == MODE_INTERMEDIATE) return access & A_INPUT;
    if (M->mode == MODE_INSTANTIATED || M->mode == MODE_INITIALIZATION) return access & A_INIT;
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT) return access & A_STEP;
    return false;
}

static Status refuse(Instance *M, const char *name, unsigned vr) {
    log_error(M, "variable %s (value reference %u) cannot be set in the current state", name, vr);
    return ST_ERROR;
}

static Status unknown_vr(Instance *M, unsigned vr, const char *type) {
    log_error(M, "unknown %s value reference %u", type, vr);
    return ST_ERROR;
}

Status core_get_real(Instance *M, const unsigned vr[], size_t n, double out[]) {
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT || M->mode == MODE_INITIALIZATION ||
        M->mode == MODE_INTERMEDIATE) {
        Status st = core_eval(M);
        if (st > ST_WARNING) return st;
    }
    for (size_t k = 0; k < n; k++) {
        if (vr[k] >= N_REAL) return unknown_vr(M, vr[k], "Float64");
        out[k] = vr[k] == 0 ? M->s.time : M->s.real_[vr[k]];
    }
    return ST_OK;
}

Status core_set_real(Instance *M, const unsigned vr[], size_t n, const double in[]) {
    for (size_t k = 0; k < n; k++) {
        if (vr[k] >= N_REAL) return unknown_vr(M, vr[k], "Float64");
        if (!settable(M, REAL_ACCESS[vr[k]])) return refuse(M, REAL_NAMES[vr[k]], vr[k]);
        M->s.real_[vr[k]] = in[k];
    }
    if (n) M->dirty = true;
    return ST_OK;
}

Status core_get_integer(Instance *M, const unsigned vr[], size_t n, int32_t out[]) {
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT || M->mode == MODE_INITIALIZATION ||
        M->mode == MODE_INTERMEDIATE) {
        Status st = core_eval(M);
        if (st > ST_WARNING) return st;
    }
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_INTEGER_BASE;
        if (vr[k] < VR_INTEGER_BASE || j >= N_INTEGER) return unknown_vr(M, vr[k], "Int32");
        out[k] = M->s.int_[j];
    }
    return ST_OK;
}

Status core_set_integer(Instance *M, const unsigned vr[], size_t n, const int32_t in[]) {
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_INTEGER_BASE;
        if (vr[k] < VR_INTEGER_BASE || j >= N_INTEGER) return unknown_vr(M, vr[k], "Int32");
        if (!settable(M, INTEGER_ACCESS[j])) return refuse(M, INTEGER_NAMES[j], vr[k]);
        M->s.int_[j] = in[k];
    }
    if (n) M->dirty = true;
    return ST_OK;
}

Status core_get_boolean(Instance *M, const unsigned vr[], size_t n, bool out[]) {
    if (M->mode == MODE_STEP || M->mode == MODE_EVENT || M->mode == MODE_INITIALIZATION ||
        M->mode == MODE_INTERMEDIATE) {
        Status st = core_eval(M);
        if (st > ST_WARNING) return st;
    }
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_BOOLEAN_BASE;
        if (vr[k] < VR_BOOLEAN_BASE || j >= N_BOOLEAN) return unknown_vr(M, vr[k], "Boolean");
        out[k] = M->s.bool_[j];
    }
    return ST_OK;
}

Status core_set_boolean(Instance *M, const unsigned vr[], size_t n, const bool in[]) {
    for (size_t k = 0; k < n; k++) {
        unsigned j = vr[k] - VR_BOOLEAN_BASE;
        if (vr[k] < VR_BOOLEAN_BASE || j >= N_BOOLEAN) return unknown_vr(M, vr[k], "Boolean");
        if (!settable(M, BOOLEAN_ACCESS[j])) return refuse(M, BOOLEAN_NAMES[j], vr[k]);
        M->s.bool_[j] = in[k];
    }
    if (n) M->dirty = true;
    return ST_OK;
}

/* ---- continuous states ------------------------------------------------------------------ */
void core_get_states(Instance *M, double x[]) {
    for (int k = 0; k < N_STATES; k++) x[k] = M->s.real_[STATE_INDEX[k]];
}

void core_set_states(Instance *M, const double x[]) {
    for (int k = 0; k < N_STATES; k++) M->s.real_[STATE_INDEX[k]] = x[k];
    M->dirty = true;
}

Status core_get_derivatives(Instance *M, double dx[]) {
    Status st = core_eval(M);
    for (int k = 0; k < N_STATES; k++) dx[k] = M->s.real_[DER_INDEX[k]];
    return st;
}

/* ---- events ------------------------------------------------------------------------------ */
__attribute__((weak)) void model_event_indicators(Instance *M, double z[]) { (void)M; (void)z; }
__attribute__((weak)) void model_event(Instance *M) { (void)M; }
__attribute__((weak)) double model_next_event_time(Instance *M) {
    (void)M;
    return INFINITY;
}
__attribute__((weak)) int model_directional(Instance *M, const unsigned unknown[], size_t nu,
                                            const unsigned known[], size_t nk, const double seed[],
                                            double sensitivity[]) {
    (void)unknown; (void)nu; (void)known; (void)nk; (void)seed; (void)sensitivity;
    log_error(M, "directional derivatives are not provided by this model");
    return 0;
}

#define MAX_EVENT_ITERATIONS 100
#define EVENT_TIME_TOL 1e-12 /* s: state events are located to this width */

bool core_time_reached(Instance *M, double t) {
    return M->s.time >= t - 1e-12 * fmax(1.0, fabs(t));
}

Status core_event_update(Instance *M, EventInfo *info) {
    memset(info, 0, sizeof *info);
    Status st = core_eval(M);
    if (st > ST_WARNING) return st;
    double before[N_STATES > 0 ? N_STATES : 1], after[N_STATES > 0 ? N_STATES : 1];
    core_get_states(M, before);
    model_event(M);
    M->dirty = true;
    st = core_eval(M);
    if (st > ST_WARNING) return st;
    core_get_states(M, after);
    info->states_changed = N_STATES > 0 && memcmp(before, after, sizeof(double) * N_STATES) != 0;
    info->terminate = M->s.terminate;
    if (info->terminate) return st;
    double te = model_next_event_time(M);
    if (te < INFINITY) {
        if (core_time_reached(M, te)) {
            info->needs_update = true; /* still due now: iterate again */
        } else {
            info->next_defined = true;
            info->next_time = te;
        }
    }
    return st;
}

/* event iteration at the current instant until nothing is due (or termination) */
static Status event_iteration(Instance *M) {
    EventInfo info;
    for (int k = 0; k < MAX_EVENT_ITERATIONS; k++) {
        Status st = core_event_update(M, &info);
        if (st > ST_WARNING || !info.needs_update) return st;
    }
    log_error(M, "event iteration at t=%g did not converge in %d iterations", M->s.time,
              MAX_EVENT_ITERATIONS);
    return ST_ERROR;
}

Status core_initial_events(Instance *M) {
#if HAS_EVENTS
    return event_iteration(M);
#else
    (void)M;
    return ST_OK;
#endif
}

Status core_get_event_indicators(Instance *M, double z[], size_t nz) {
    if (nz != N_EVENT_INDICATORS) {
        log_error(M, "event indicators: nz=%zu, this FMU has %d", nz, N_EVENT_INDICATORS);
        return ST_ERROR;
    }
    Status st = core_eval(M);
    for (size_t k = 0; k < nz; k++) z[k] = M->s.real_[Z_INDEX + k];
    return st;
}

/* ---- directional derivatives, input derivatives ------------------------------------------- */
Status core_directional(Instance *M, const unsigned unknown[], size_t nu, const unsigned known[],
                        size_t nk, const double seed[], double sensitivity[]) {
#if DIRECTIONAL_DERIVATIVES
    Status st = core_eval(M);
    if (st > ST_WARNING) return st;
    return model_directional(M, unknown, nu, known, nk, seed, sensitivity) ? st : ST_ERROR;
#else
    (void)unknown; (void)nu; (void)known; (void)nk; (void)seed; (void)sensitivity;
    log_error(M, "directional derivatives are not provided (providesDirectionalDerivative=false)");
    return ST_ERROR;
#endif
}

Status core_set_input_derivatives(Instance *M, const unsigned vr[], size_t n, const int32_t order[],
                                  const double v[]) {
    for (size_t k = 0; k < n; k++) {
        int j = -1;
        for (int i = 0; i < N_RIN; i++)
            if (RIN_INDEX[i] == vr[k]) j = i;
        if (j < 0) {
            log_error(M, "input derivatives: value reference %u is not a Real input", vr[k]);
            return ST_ERROR;
        }
        if (order[k] != 1 && order[k] != 2) {
            log_error(M, "input derivatives: order %d of %s is not supported (1 or 2)",
                      (int)order[k], REAL_NAMES[vr[k]]);
            return ST_ERROR;
        }
        if (!isfinite(v[k])) {
            log_error(M, "input derivative %d of %s is not finite (%g)", (int)order[k],
                      REAL_NAMES[vr[k]], v[k]);
            return ST_ERROR;
        }
        (order[k] == 1 ? M->s.du1 : M->s.du2)[j] = v[k];
        M->s.has_input_derivatives = true;
    }
    return ST_OK;
}

/* ---- Co-Simulation integrators ------------------------------------------------------------ */
#define NX (N_STATES > 0 ? N_STATES : 1)
#define NZ (N_EVENT_INDICATORS > 0 ? N_EVENT_INDICATORS : 1)

/* time, states and the Real inputs extrapolated from the communication point by the input
   derivatives: u(t) = u0 + du1 tau + du2 tau^2 / 2, tau = t - step_start */
static void set_point(Instance *M, double t, const double x[]) {
    M->s.time = t;
    for (int k = 0; k < N_STATES; k++) M->s.real_[STATE_INDEX[k]] = x[k];
#if N_RIN > 0
    if (M->s.has_input_derivatives) {
        double tau = t - M->step_start;
        for (int k = 0; k < N_RIN; k++)
            M->s.real_[RIN_INDEX[k]] = M->u0[k] + tau * (M->s.du1[k] + 0.5 * tau * M->s.du2[k]);
    }
#endif
    M->dirty = true;
}

__attribute__((unused)) static Status deriv(Instance *M, double t, const double x[], double dx[]) {
    set_point(M, t, x);
    return core_get_derivatives(M, dx);
}

#if N_EVENT_INDICATORS > 0
static Status indicators_at(Instance *M, double t, const double x[], double z[]) {
    set_point(M, t, x);
    Status st = core_eval(M);
    for (int k = 0; k < N_EVENT_INDICATORS; k++) z[k] = M->s.real_[Z_INDEX + k];
    return st;
}

/* an indicator moved between z >= 0 and z < 0 */
static bool crossed(const double a[], const double b[]) {
    for (int k = 0; k < N_EVENT_INDICATORS; k++)
        if ((a[k] >= 0) != (b[k] >= 0)) return true;
    return false;
}
#endif

#if !CS_ADAPTIVE
/* classical fourth-order Runge-Kutta: one step of size dt from (t0, x0) */
__attribute__((unused)) static Status rk4_step(Instance *M, double t0, const double x0[], double dt, double x1[]) {
#if N_STATES > 0
    double k1[N_STATES], k2[N_STATES], k3[N_STATES], k4[N_STATES], xt[N_STATES];
    if (deriv(M, t0, x0, k1) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < N_STATES; k++) xt[k] = x0[k] + 0.5 * dt * k1[k];
    if (deriv(M, t0 + 0.5 * dt, xt, k2) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < N_STATES; k++) xt[k] = x0[k] + 0.5 * dt * k2[k];
    if (deriv(M, t0 + 0.5 * dt, xt, k3) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < N_STATES; k++) xt[k] = x0[k] + dt * k3[k];
    if (deriv(M, t0 + dt, xt, k4) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < N_STATES; k++)
        x1[k] = x0[k] + dt / 6.0 * (k1[k] + 2.0 * k2[k] + 2.0 * k3[k] + k4[k]);
#else
    (void)M; (void)t0; (void)x0; (void)dt; (void)x1;
#endif
    return ST_OK;
}
#define ONE_STEP(M, t0, x0, dt, x1) rk4_step(M, t0, x0, dt, x1)
#else
/* Dormand & Prince (1980) RK5(4)7M: one step of size dt, fifth-order solution in x1, and the
   norm of the embedded error estimate relative to the tolerance in *err (if err != NULL) */
static Status dopri_step(Instance *M, double t0, const double x0[], double dt, double x1[],
                         double rtol, double *err) {
    static const double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
    static const double a21 = 1.0 / 5;
    static const double a31 = 3.0 / 40, a32 = 9.0 / 40;
    static const double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
    static const double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561,
                        a54 = -212.0 / 729;
    static const double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247,
                        a64 = 49.0 / 176, a65 = -5103.0 / 18656;
    static const double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192,
                        b5 = -2187.0 / 6784, b6 = 11.0 / 84;
    /* b - b*: fifth minus fourth order weights */
    static const double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920,
                        e5 = -17253.0 / 339200, e6 = 22.0 / 525, e7 = -1.0 / 40;
    double k1[NX], k2[NX], k3[NX], k4[NX], k5[NX], k6[NX], k7[NX], xt[NX];
    const int n = N_STATES;
    if (deriv(M, t0, x0, k1) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < n; k++) xt[k] = x0[k] + dt * a21 * k1[k];
    if (deriv(M, t0 + c2 * dt, xt, k2) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < n; k++) xt[k] = x0[k] + dt * (a31 * k1[k] + a32 * k2[k]);
    if (deriv(M, t0 + c3 * dt, xt, k3) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < n; k++) xt[k] = x0[k] + dt * (a41 * k1[k] + a42 * k2[k] + a43 * k3[k]);
    if (deriv(M, t0 + c4 * dt, xt, k4) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < n; k++)
        xt[k] = x0[k] + dt * (a51 * k1[k] + a52 * k2[k] + a53 * k3[k] + a54 * k4[k]);
    if (deriv(M, t0 + c5 * dt, xt, k5) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < n; k++)
        xt[k] = x0[k] + dt * (a61 * k1[k] + a62 * k2[k] + a63 * k3[k] + a64 * k4[k] + a65 * k5[k]);
    if (deriv(M, t0 + dt, xt, k6) > ST_WARNING) return ST_ERROR;
    for (int k = 0; k < n; k++)
        x1[k] = x0[k] + dt * (b1 * k1[k] + b3 * k3[k] + b4 * k4[k] + b5 * k5[k] + b6 * k6[k]);
    if (!err) return ST_OK;
    if (deriv(M, t0 + dt, x1, k7) > ST_WARNING) return ST_ERROR;
    double sum = 0.0;
    for (int k = 0; k < n; k++) {
        double e = dt * (e1 * k1[k] + e3 * k3[k] + e4 * k4[k] + e5 * k5[k] + e6 * k6[k] + e7 * k7[k]);
        double scale = rtol * (1.0 + fmax(fabs(x0[k]), fabs(x1[k]))); /* atol = rtol */
        sum += (e / scale) * (e / scale);
    }
    *err = n > 0 ? sqrt(sum / n) : 0.0;
    return ST_OK;
}
#define ONE_STEP(M, t0, x0, dt, x1) dopri_step(M, t0, x0, dt, x1, 0.0, NULL)

/* one accepted adaptive step of at most max_dt; the step size taken in *dt */
static Status adaptive_step(Instance *M, double t0, const double x0[], double max_dt, double *dt,
                            double x1[]) {
    double rtol = M->tolerance_defined && M->tolerance > 0 ? M->tolerance : CS_DEFAULT_TOLERANCE;
    double h = M->s.h_next > 0 ? M->s.h_next : 0.1 * pow(rtol, 0.2);
    h = fmin(h, MAX_STEP);
    for (;;) {
        bool clipped = h >= max_dt;
        if (clipped) h = max_dt;
        double err;
        if (dopri_step(M, t0, x0, h, x1, rtol, &err) > ST_WARNING) return ST_ERROR;
        /* step size controller: h_new = h (1/err)^(1/5) with safety factor and limits */
        double fac = fmin(5.0, fmax(0.2, 0.9 * pow(fmax(err, 1e-10), -0.2)));
        if (err <= 1.0) {
            double next = fmin(h * fac, MAX_STEP);
            /* a step clipped to a communication point or event says little about the next */
            M->s.h_next = clipped ? fmax(M->s.h_next, next) : next;
            *dt = h;
            return ST_OK;
        }
        h *= fmin(fac, 0.9);
        if (!(h > 1e-14 * fmax(1.0, fabs(t0)))) {
            log_error(M, "adaptive integrator: step size underflow at t=%.17g (tolerance %g)", t0,
                      rtol);
            return ST_ERROR;
        }
    }
}
#endif

/* handle the event at the current instant inside doStep (no event mode): event iteration */
static Status internal_event(Instance *M, double *next_te) {
    Status st = event_iteration(M);
    *next_te = M->s.terminate ? INFINITY : model_next_event_time(M);
    return st;
}

/* Co-Simulation step: RK4 with sub-steps of at most MAX_STEP, or (cs_solver: adaptive)
   Dormand-Prince 5(4) with steps of at most MAX_STEP. Both stop exactly at time events and
   locate state events (an indicator moving between z >= 0 and z < 0 over an internal step)
   by bisection, re-integrating from the start of the internal step, to EVENT_TIME_TOL. In
   event mode (FMI 3.0 eventModeUsed) the step ends at the event for the importer to handle;
   otherwise the event is handled here (model_event) and integration continues. */
Status core_do_step(Instance *M, double t, double h) {
    M->event_pending = false;
    M->early_return = false;
    if (!(h > 0)) {
        log_error(M, "communication step size must be > 0, got %g", h);
        return ST_ERROR;
    }
    if (fabs(t - M->s.time) > 1e-9 * (1.0 + fabs(t))) {
        log_error(M, "communication point %.17g does not match the FMU time %.17g", t, M->s.time);
        return ST_ERROR;
    }
    if (M->s.terminate) { /* asked before: no progress, the importer sees the request again */
        M->early_return = true;
        return ST_OK;
    }
    if (!model_check(M)) return ST_ERROR;
    if (check_finite(M) > ST_WARNING) return ST_ERROR;  /* e.g. a NaN input: refuse, log once */
    double nd = ceil(h / MAX_STEP - 1e-9);
    if (nd > 1e8) {
        log_error(M, "communication step %g s needs %.3g internal steps of at most %g s; "
                     "use a smaller communication step", h, nd, (double)MAX_STEP);
        return ST_ERROR;
    }
    M->step_start = t;
#if N_RIN > 0
    for (int k = 0; k < N_RIN; k++) M->u0[k] = M->s.real_[RIN_INDEX[k]];
#endif
    const double t_stop = t + h; /* the communication point this step aims at */
    double tend = t_stop;        /* may move earlier if the importer asks to return early */
    double x0[NX], x1[NX];
    core_get_states(M, x0);
    memcpy(x1, x0, sizeof x1);
#if N_EVENT_INDICATORS > 0
    double z0[NZ], z1[NZ];
    if (indicators_at(M, t, x0, z0) > ST_WARNING) return ST_ERROR;
#endif
    double next_te = HAS_EVENTS ? model_next_event_time(M) : INFINITY;
    double tnow = t;
    /* RK4: an equidistant grid over [seg_start, seg_end], restarted after every event */
    double seg_start = t, seg_end = t;
    int n = 1, j = 0;
    bool new_seg = true, stop = false;
    int events_here = 0;
    Status st = ST_OK;
    while (!stop && tnow < tend) {
        double eps = 1e-12 * fmax(1.0, fabs(tend));
        double target = tend;
        bool te_in = false;
        if (next_te <= tend + eps) {
            te_in = true;
            target = next_te < tend - eps ? fmax(next_te, tnow) : tend;
        }
        if (new_seg || seg_end != target) {
            seg_start = tnow;
            seg_end = target;
            double m = ceil((seg_end - seg_start) / MAX_STEP - 1e-9);
            n = m < 1 ? 1 : (int)m;
            j = 0;
            new_seg = false;
        }
        bool state_event = false;
        if (target > tnow) {
            double t1, dt;
#if N_STATES == 0 && N_EVENT_INDICATORS == 0
            t1 = target; /* nothing to integrate */
            dt = t1 - tnow;
            (void)n; (void)j; (void)seg_start;
#elif CS_ADAPTIVE
            (void)n; (void)j;
            if (adaptive_step(M, tnow, x0, target - tnow, &dt, x1) > ST_WARNING) return ST_ERROR;
            t1 = dt >= target - tnow ? target : tnow + dt;
#else
            t1 = j + 1 >= n ? seg_end : seg_start + (j + 1) * ((seg_end - seg_start) / n);
            dt = t1 - tnow;
            if (rk4_step(M, tnow, x0, dt, x1) > ST_WARNING) return ST_ERROR;
            j++;
#endif
#if N_EVENT_INDICATORS > 0
            if (indicators_at(M, t1, x1, z1) > ST_WARNING) return ST_ERROR;
            if (crossed(z0, z1)) { /* bisection on [0, dt] from (tnow, x0) */
                double lo = 0.0, hi = dt;
                while (hi - lo > EVENT_TIME_TOL) {
                    double mid = 0.5 * (lo + hi);
                    if (ONE_STEP(M, tnow, x0, mid, x1) > ST_WARNING) return ST_ERROR;
                    if (indicators_at(M, tnow + mid, x1, z1) > ST_WARNING) return ST_ERROR;
                    if (crossed(z0, z1)) hi = mid; else lo = mid;
                }
                if (hi < dt) {
                    t1 = tnow + hi;
                    if (ONE_STEP(M, tnow, x0, hi, x1) > ST_WARNING) return ST_ERROR;
                    if (indicators_at(M, t1, x1, z1) > ST_WARNING) return ST_ERROR;
                } else { /* the crossing is at the end: the full step again */
                    if (ONE_STEP(M, tnow, x0, dt, x1) > ST_WARNING) return ST_ERROR;
                    if (indicators_at(M, t1, x1, z1) > ST_WARNING) return ST_ERROR;
                }
                state_event = true;
            }
            memcpy(z0, z1, sizeof z0);
#endif
            (void)dt;
            tnow = t1;
            memcpy(x0, x1, sizeof x0);
            set_point(M, tnow, x0);
        }
        bool time_event = te_in && tnow >= target;
        if (state_event || time_event) {
            new_seg = true;
            if (M->event_mode_used && (M->early_return_allowed || tnow >= t_stop)) {
                M->event_pending = true; /* the importer handles it in event mode */
                stop = true;
                break;
            }
            if (time_event && next_te > tnow) M->s.time = next_te; /* the model sees t_event */
            events_here = tnow == seg_start ? events_here + 1 : 1;
            if (events_here > MAX_EVENT_ITERATIONS) {
                log_error(M, "more than %d events at t=%g", MAX_EVENT_ITERATIONS, tnow);
                return ST_ERROR;
            }
            st = internal_event(M, &next_te);
            if (st > ST_WARNING) return st;
            core_get_states(M, x0); /* model_event may reinitialize states */
            set_point(M, tnow, x0);
#if N_EVENT_INDICATORS > 0
            if (indicators_at(M, tnow, x0, z0) > ST_WARNING) return ST_ERROR;
#endif
            if (M->s.terminate) {
                stop = true;
                break;
            }
        }
        if (M->intermediate && tnow < tend) {
            double early = tnow;
            M->dirty = true;
            bool asked = M->intermediate(M, tnow, &early);
            if (M->mode == MODE_ERROR) return ST_ERROR; /* e.g. a refused set in the callback */
            M->dirty = true; /* the importer may have set inputs */
#if N_EVENT_INDICATORS > 0
            if (indicators_at(M, tnow, x0, z0) > ST_WARNING) return ST_ERROR;
#endif
            if (asked && M->early_return_allowed) {
                if (early <= tnow) {
                    stop = true;
                    break;
                }
                if (early < tend) tend = early;
            }
        }
    }
    M->early_return = tnow < t_stop;
    M->s.time = M->early_return ? tnow : t_stop;
    set_point(M, M->s.time, x0);
    /* input derivatives apply to one step only */
    M->s.has_input_derivatives = false;
    memset(M->s.du1, 0, sizeof M->s.du1);
    memset(M->s.du2, 0, sizeof M->s.du2);
    Status st2 = core_eval(M);
    if (st2 > ST_WARNING) M->mode = MODE_ERROR;
    return st2 > st ? st2 : st;
}

double interp1(const double *xs, const double *ys, int n, double x) {
    if (x <= xs[0]) return ys[0];
    if (x >= xs[n - 1]) return ys[n - 1];
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (xs[mid] <= x) lo = mid; else hi = mid;
    }
    double w = (x - xs[lo]) / (xs[hi] - xs[lo]);
    return ys[lo] + w * (ys[hi] - ys[lo]);
}
