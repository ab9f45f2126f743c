/* model.h - the per-model interface every bundled FMU implements, and the shared instance.
 *
 * A model is one C file that includes "model.h" (which pulls in the generated "vars.h": value
 * references, array sizes, start values and named accessors) and defines:
 *
 *   int  model_check(Instance *M);   parameters valid? log_error() and return 0 if not
 *   void model_eval(Instance *M);    derivatives (der_*) and outputs from time, states, inputs
 *
 * and optionally (weak defaults exist) model_initialize(Instance *M), called when leaving
 * initialization mode, for states that start from parameters.
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
    MODE_EVENT,         /* ME event mode */
    MODE_TERMINATED,
    MODE_ERROR
} Mode;

/* everything that makes up the FMU state (copied by get/set FMU state) */
typedef struct {
    double time;
    double real_[N_REAL];
    int32_t int_[N_INTEGER > 0 ? N_INTEGER : 1];
    bool bool_[N_BOOLEAN > 0 ? N_BOOLEAN : 1];
    bool initialized;   /* model_initialize has run */
} ModelState;

struct Instance;
typedef void (*LogSink)(struct Instance *M, Status status, const char *category, const char *msg);

typedef struct Instance {
    ModelState s;
    Mode mode;
    bool is_cosim;
    bool logging_on;
    bool dirty;              /* inputs/states/params changed since last model_eval */
    char *name;
    const char *category_ok; /* category for informational messages */
    LogSink sink;
    void *env;               /* FMI callbacks / environment, owned by the API layer */
    void *env2;
    double step_start;       /* CS: current communication point */
} Instance;

/* ---- implemented by the model ---- */
int model_check(Instance *M);
void model_eval(Instance *M);
void model_initialize(Instance *M);

/* ---- provided by core.c ---- */
void log_error(Instance *M, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(Instance *M, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
Instance *core_new(const char *name, bool is_cosim, LogSink sink, void *env, void *env2, bool logging_on);
void core_free(Instance *M);
void core_reset(Instance *M);
Status core_exit_initialization(Instance *M);
Status core_do_step(Instance *M, double t, double h);
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
#define M_INST (1 << MODE_INSTANTIATED)
#define M_INIT (1 << MODE_INITIALIZATION)
#define M_STEP (1 << MODE_STEP)
#define M_EVENT (1 << MODE_EVENT)
#define M_TERM (1 << MODE_TERMINATED)
#define M_ERR (1 << MODE_ERROR)
#define M_ANY (M_INST | M_INIT | M_STEP | M_EVENT | M_TERM | M_ERR)

/* table lookup with linear interpolation and end clamping */
double interp1(const double *xs, const double *ys, int n, double x);

#endif
