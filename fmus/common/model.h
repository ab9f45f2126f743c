/* model.h - the per-model interface every bundled FMU implements, and the shared instance.
 *
 * A model is one C file that includes "model.h" (which pulls in the generated "vars.h": value
 * references, array sizes, start values and named accessors) and defines:
 *
 *   int  model_check(Instance *M);   parameters valid? log_error() and return 0 if not
 *   void model_eval(Instance *M);    derivatives (der_*) and outputs from time, states, inputs
 *
 * and optionally (weak defaults exist):
 *
 *   void   model_initialize(Instance *M);   when leaving initialization mode, for states that
 *                                           start from parameters
 *   void   model_event_indicators(Instance *M, double z[]);   z[0..N_EVENT_INDICATORS-1]
 *                                           (model.yaml event_indicators: N); an event happens
 *                                           where one changes between z >= 0 and z < 0
 *   void   model_event(Instance *M);        at a state or time event (and once after
 *                                           initialization), in event mode: may change discrete
 *                                           variables, reinitialize states, and set
 *                                           M->s.terminate to ask the importer to stop
 *   double model_next_event_time(Instance *M);   the next time event, INFINITY if none
 *                                           (model.yaml time_events: true)
 *   int    model_directional(Instance *M, const unsigned unknown[], size_t nu,
 *                            const unsigned known[], size_t nk, const double seed[],
 *                            double sensitivity[]);   sensitivity = d unknown / d known * seed;
 *                                           return 0 (after log_error) if a pair is not provided
 *                                           (model.yaml directional_derivatives: true)
 *
 * The FMI 2.0 and 3.0 APIs (fmi2.c, fmi3.c) are written once over this interface in core.c.
 */
#ifndef COSIM_MODEL_H
#define COSIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vars.h"

typedef enum { ST_OK = 0, ST_WARNING = 1, ST_DISCARD = 2, ST_ERROR = 3, ST_FATAL = 4 } Status;

typedef enum {
    MODE_INSTANTIATED,
    MODE_INITIALIZATION,
    MODE_STEP,          /* CS step mode, or ME continuous-time mode */
    MODE_EVENT,         /* ME event mode, FMI 3.0 CS event mode */
    MODE_TERMINATED,
    MODE_ERROR,
    MODE_INTERMEDIATE   /* FMI 3.0 CS intermediate update (inside fmi3DoStep's callback) */
} Mode;

#define N_RIN_ (N_RIN > 0 ? N_RIN : 1)

/* everything that makes up the FMU state (copied by get/set FMU state) */
typedef struct {
    double time;
    double real_[N_REAL];
    int32_t int_[N_INTEGER > 0 ? N_INTEGER : 1];
    bool bool_[N_BOOLEAN > 0 ? N_BOOLEAN : 1];
    bool initialized;   /* model_initialize has run */
    bool terminate;     /* set by model_event: the model asks the importer to stop */
    double h_next;      /* adaptive CS solver: the internal step size to try next (0: none yet) */
    bool has_input_derivatives;   /* FMI 2.0 CS: du1/du2 apply to the next doStep */
    double du1[N_RIN_]; /* first and second time derivatives of the Real inputs (RIN_INDEX) */
    double du2[N_RIN_];
} ModelState;

/* what one event update (model_event) reports to the importer */
typedef struct {
    bool needs_update;   /* another event iteration is needed (an event is still due now) */
    bool states_changed; /* model_event changed continuous states */
    bool next_defined;
    double next_time;    /* next time event, if next_defined */
    bool terminate;
} EventInfo;

struct Instance;
typedef void (*LogSink)(struct Instance *M, Status status, const char *category, const char *msg);

typedef struct Instance {
    ModelState s;
    Mode mode;
    bool is_cosim;
    bool logging_on;
    bool dirty;              /* inputs/states/params changed since last model_eval */
    bool warned;             /* the last model_eval called log_warning */
    char *name;
    const char *category_ok; /* category for informational messages */
    LogSink sink;
    void *env;               /* FMI callbacks / environment, owned by the API layer */
    void *env2;
    double step_start;       /* CS: current communication point */
    bool tolerance_defined;  /* relative tolerance from fmi2SetupExperiment/EnterInitialization */
    double tolerance;
    /* FMI 3.0 CS: the importer handles events (eventModeUsed) / allows early return */
    bool event_mode_used;
    bool early_return_allowed;
    /* FMI 3.0 CS intermediate update: called after each internal step inside core_do_step
       (not at the step end); returns true if the importer asks to return early, at or after
       *early_time. NULL: no callback */
    bool (*intermediate)(struct Instance *M, double t, double *early_time);
    /* outcome of the last core_do_step */
    bool event_pending;      /* stopped at an event the importer handles in event mode */
    bool early_return;       /* stopped before the end of the communication step */
    double u0[N_RIN_];       /* Real inputs at the communication point (input derivatives) */
} Instance;

/* ---- implemented by the model ---- */
int model_check(Instance *M);
void model_eval(Instance *M);
void model_initialize(Instance *M);
void model_event_indicators(Instance *M, double z[]);
void model_event(Instance *M);
double model_next_event_time(Instance *M);
int model_directional(Instance *M, const unsigned unknown[], size_t nu, const unsigned known[],
                      size_t nk, const double seed[], double sensitivity[]);

/* ---- provided by core.c ---- */
void log_error(Instance *M, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(Instance *M, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* from model_eval: logged with status Warning; the call that ran the evaluation (doStep, or
   exiting initialization) returns Warning */
void log_warning(Instance *M, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
Instance *core_new(const char *name, bool is_cosim, LogSink sink, void *env, void *env2, bool logging_on);
void core_free(Instance *M);
void core_reset(Instance *M);
Status core_exit_initialization(Instance *M);
Status core_initial_events(Instance *M); /* CS without event mode: the events at the start */
Status core_event_update(Instance *M, EventInfo *info); /* one event iteration (model_event) */
Status core_do_step(Instance *M, double t, double h);
Status core_set_input_derivatives(Instance *M, const unsigned vr[], size_t n, const int32_t order[],
                                  const double v[]);
Status core_directional(Instance *M, const unsigned unknown[], size_t nu, const unsigned known[],
                        size_t nk, const double seed[], double sensitivity[]);
Status core_get_event_indicators(Instance *M, double z[], size_t nz);
bool core_time_reached(Instance *M, double t); /* time >= t, up to round-off of the importer */
Status core_eval(Instance *M);  /* model_eval if dirty, then check finiteness */
Status core_get_real(Instance *M, const unsigned vr[], size_t n, double out[]);
Status core_set_real(Instance *M, const unsigned vr[], size_t n, const double in[]);
Status core_get_integer(Instance *M, const unsigned vr[], size_t n, int32_t out[]);
Status core_set_integer(Instance *M, const unsigned vr[], size_t n, const int32_t in[]);
Status core_get_boolean(Instance *M, const unsigned vr[], size_t n, bool out[]);
Status core_set_boolean(Instance *M, const unsigned vr[], size_t n, const bool in[]);
void core_get_states(Instance *M, double x[]);
void core_set_states(Instance *M, const double x[]);
Status core_get_derivatives(Instance *M, double dx[]);
Status core_check_mode(Instance *M, const char *function, int allowed_modes);
/* Model Exchange: Integer and Boolean values are refused in Continuous-Time Mode */
Status core_check_discrete(Instance *M, const char *function);
#define M_INST (1 << MODE_INSTANTIATED)
#define M_INIT (1 << MODE_INITIALIZATION)
#define M_STEP (1 << MODE_STEP)
#define M_EVENT (1 << MODE_EVENT)
#define M_TERM (1 << MODE_TERMINATED)
#define M_ERR (1 << MODE_ERROR)
#define M_IUM (1 << MODE_INTERMEDIATE)
#define M_ANY (M_INST | M_INIT | M_STEP | M_EVENT | M_TERM | M_ERR)

/* table lookup with linear interpolation and end clamping */
double interp1(const double *xs, const double *ys, int n, double x);

#endif
