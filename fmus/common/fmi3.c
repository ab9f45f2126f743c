/* fmi3.c - the FMI 3.0 Co-Simulation and Model Exchange API over the shared instance (core.c). */
#include <stdlib.h>
#include <string.h>

#include "fmi3Functions.h"
#include "model.h"

#define INST ((Instance *)c)
#define CHECK(fn, modes)                                         \
    do {                                                         \
        if (!c) return fmi3Error;                                \
        if (core_check_mode(INST, fn, modes)) return fmi3Error;  \
    } while (0)

typedef struct {
    fmi3InstanceEnvironment env;
    fmi3LogMessageCallback log;
    fmi3IntermediateUpdateCallback update;
} Env3;

static void sink3(Instance *M, Status st, const char *category, const char *msg) {
    Env3 *e = (Env3 *)M->env;
    if (e && e->log) e->log(e->env, (fmi3Status)st, category, msg);
}

static fmi3Status ret(Instance *M, Status st) {
    if (st >= ST_ERROR) M->mode = MODE_ERROR;
    return (fmi3Status)st;
}

/* core_do_step's intermediate-update hook: the importer may set inputs and get outputs */
static bool intermediate3(Instance *M, double t, double *early_time) {
    Env3 *e = (Env3 *)M->env;
    fmi3Boolean requested = fmi3False;
    fmi3Float64 when = t;
    Mode saved = M->mode;
    M->mode = MODE_INTERMEDIATE;
    e->update(e->env, t, fmi3True, fmi3True, fmi3True, M->early_return_allowed ? fmi3True : fmi3False,
              &requested, &when);
    if (M->mode == MODE_INTERMEDIATE) M->mode = saved;
    *early_time = when;
    return requested;
}

static fmi3Instance instantiate(fmi3String name, fmi3String token, fmi3Boolean loggingOn,
                                fmi3InstanceEnvironment env, fmi3LogMessageCallback log,
                                bool is_cosim) {
    Env3 *e = calloc(1, sizeof(Env3));
    if (!e) return NULL;
    e->env = env;
    e->log = log;
    Instance *M = core_new(name, is_cosim, sink3, e, NULL, loggingOn);
    if (!M) { free(e); return NULL; }
    if (!token || strcmp(token, MODEL_GUID) != 0) {
        log_error(M, "wrong instantiationToken %s, expected %s", token ? token : "(null)", MODEL_GUID);
        core_free(M);
        free(e);
        return NULL;
    }
    return M;
}

const char *fmi3GetVersion(void) { return fmi3Version; }

fmi3Status fmi3SetDebugLogging(fmi3Instance c, fmi3Boolean loggingOn, size_t n, const fmi3String cat[]) {
    (void)n; (void)cat;
    if (!c) return fmi3Error;
    INST->logging_on = loggingOn;
    return fmi3OK;
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String name, fmi3String token, fmi3String resources,
                                          fmi3Boolean visible, fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment env, fmi3LogMessageCallback log) {
    (void)resources; (void)visible;
#ifdef MODEL_EXCHANGE
    return instantiate(name, token, loggingOn, env, log, false);
#else
    (void)name; (void)token; (void)loggingOn;
    if (log) log(env, fmi3Error, "logStatusError", "this FMU does not implement Model Exchange");
    return NULL;
#endif
}

fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String resources,
                                         fmi3Boolean visible, fmi3Boolean loggingOn,
                                         fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
                                         const fmi3ValueReference required[], size_t nRequired,
                                         fmi3InstanceEnvironment env, fmi3LogMessageCallback log,
                                         fmi3IntermediateUpdateCallback update) {
    (void)resources; (void)visible; (void)required; (void)nRequired;
    Instance *M = instantiate(name, token, loggingOn, env, log, true);
    if (!M) return NULL;
    if (eventModeUsed && !HAS_EVENTS) {
        log_error(M, "eventModeUsed=true, but this FMU has no events (hasEventMode=false)");
        fmi3FreeInstance(M);
        return NULL;
    }
    M->event_mode_used = eventModeUsed;
    M->early_return_allowed = earlyReturnAllowed;
    if (update) {
        ((Env3 *)M->env)->update = update;
        M->intermediate = intermediate3;
    }
    return M;
}

fmi3Instance fmi3InstantiateScheduledExecution(fmi3String name, fmi3String token, fmi3String resources,
                                               fmi3Boolean visible, fmi3Boolean loggingOn,
                                               fmi3InstanceEnvironment env, fmi3LogMessageCallback log,
                                               fmi3ClockUpdateCallback clockUpdate,
                                               fmi3LockPreemptionCallback lock,
                                               fmi3UnlockPreemptionCallback unlock) {
    (void)name; (void)token; (void)resources; (void)visible; (void)loggingOn;
    (void)clockUpdate; (void)lock; (void)unlock;
    if (log) log(env, fmi3Error, "logStatusError", "this FMU does not implement Scheduled Execution");
    return NULL;
}

void fmi3FreeInstance(fmi3Instance c) {
    if (!c) return;
    void *e = INST->env;
    core_free(INST);
    free(e);
}

fmi3Status fmi3EnterInitializationMode(fmi3Instance c, fmi3Boolean tolDef, fmi3Float64 tol,
                                       fmi3Float64 start, fmi3Boolean stopDef, fmi3Float64 stop) {
    (void)stopDef; (void)stop;
    CHECK("fmi3EnterInitializationMode", M_INST);
    INST->s.time = start;
    INST->tolerance_defined = tolDef && tol > 0;
    INST->tolerance = tol;
    INST->mode = MODE_INITIALIZATION;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance c) {
    CHECK("fmi3ExitInitializationMode", M_INIT);
    Status st = core_exit_initialization(INST);
    if (st >= ST_ERROR) return ret(INST, st);
    /* ME, and CS in event mode: the importer does the initial event iteration */
    INST->mode = INST->is_cosim && !INST->event_mode_used ? MODE_STEP : MODE_EVENT;
    return (fmi3Status)st;
}

fmi3Status fmi3EnterEventMode(fmi3Instance c) {
    CHECK("fmi3EnterEventMode", M_STEP | M_EVENT);
    if (INST->is_cosim && !INST->event_mode_used) {
        log_error(INST, "fmi3EnterEventMode: the instance was created with eventModeUsed=false");
        return ret(INST, ST_ERROR);
    }
    INST->mode = MODE_EVENT;
    return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance c) {
    CHECK("fmi3Terminate", M_STEP | M_EVENT | M_ERR);
    INST->mode = MODE_TERMINATED;
    return fmi3OK;
}

fmi3Status fmi3Reset(fmi3Instance c) {
    CHECK("fmi3Reset", M_ANY);
    core_reset(INST);
    return fmi3OK;
}

#define GET_MODES (M_INST | M_INIT | M_STEP | M_EVENT | M_TERM | M_ERR | M_IUM)
#define SET_MODES (M_INST | M_INIT | M_STEP | M_EVENT | M_IUM) /* IUM: inputs only (core) */

static fmi3Status count_mismatch(Instance *M, const char *fn, size_t nvr, size_t nv) {
    log_error(M, "%s: nValues=%zu but nValueReferences=%zu (all variables are scalars)", fn, nv, nvr);
    return fmi3Error;
}

fmi3Status fmi3GetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, fmi3Float64 v[], size_t nv) {
    CHECK("fmi3GetFloat64", GET_MODES);
    if (nv != nvr) return count_mismatch(INST, "fmi3GetFloat64", nvr, nv);
    return ret(INST, core_get_real(INST, vr, nvr, v));
}

fmi3Status fmi3SetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, const fmi3Float64 v[], size_t nv) {
    CHECK("fmi3SetFloat64", SET_MODES);
    if (nv != nvr) return count_mismatch(INST, "fmi3SetFloat64", nvr, nv);
    return ret(INST, core_set_real(INST, vr, nvr, v));
}

fmi3Status fmi3GetInt32(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, fmi3Int32 v[], size_t nv) {
    CHECK("fmi3GetInt32", GET_MODES);
    if (nv != nvr) return count_mismatch(INST, "fmi3GetInt32", nvr, nv);
    return ret(INST, core_get_integer(INST, vr, nvr, v));
}

fmi3Status fmi3SetInt32(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, const fmi3Int32 v[], size_t nv) {
    CHECK("fmi3SetInt32", SET_MODES);
    if (core_check_discrete(INST, "fmi3SetInt32")) return fmi3Error;
    if (nv != nvr) return count_mismatch(INST, "fmi3SetInt32", nvr, nv);
    return ret(INST, core_set_integer(INST, vr, nvr, v));
}

fmi3Status fmi3GetBoolean(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, fmi3Boolean v[], size_t nv) {
    CHECK("fmi3GetBoolean", GET_MODES);
    if (nv != nvr) return count_mismatch(INST, "fmi3GetBoolean", nvr, nv);
    return ret(INST, core_get_boolean(INST, vr, nvr, v));
}

fmi3Status fmi3SetBoolean(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, const fmi3Boolean v[], size_t nv) {
    CHECK("fmi3SetBoolean", SET_MODES);
    if (core_check_discrete(INST, "fmi3SetBoolean")) return fmi3Error;
    if (nv != nvr) return count_mismatch(INST, "fmi3SetBoolean", nvr, nv);
    return ret(INST, core_set_boolean(INST, vr, nvr, v));
}

/* types this library never declares: any non-empty request names an unknown value reference */
#define NO_VARIABLES(fn, T)                                                                  \
    fmi3Status fn(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, T v[], size_t nv) { \
        (void)v; (void)nv;                                                                   \
        if (!c) return fmi3Error;                                                            \
        if (nvr == 0) return fmi3OK;                                                         \
        log_error(INST, "%s: unknown value reference %u (no variables of this type)", #fn, vr[0]); \
        return fmi3Error;                                                                    \
    }
NO_VARIABLES(fmi3GetFloat32, fmi3Float32)
NO_VARIABLES(fmi3GetInt8, fmi3Int8)
NO_VARIABLES(fmi3GetUInt8, fmi3UInt8)
NO_VARIABLES(fmi3GetInt16, fmi3Int16)
NO_VARIABLES(fmi3GetUInt16, fmi3UInt16)
NO_VARIABLES(fmi3GetUInt32, fmi3UInt32)
NO_VARIABLES(fmi3GetInt64, fmi3Int64)
NO_VARIABLES(fmi3GetUInt64, fmi3UInt64)
NO_VARIABLES(fmi3GetString, fmi3String)
NO_VARIABLES(fmi3SetFloat32, const fmi3Float32)
NO_VARIABLES(fmi3SetInt8, const fmi3Int8)
NO_VARIABLES(fmi3SetUInt8, const fmi3UInt8)
NO_VARIABLES(fmi3SetInt16, const fmi3Int16)
NO_VARIABLES(fmi3SetUInt16, const fmi3UInt16)
NO_VARIABLES(fmi3SetUInt32, const fmi3UInt32)
NO_VARIABLES(fmi3SetInt64, const fmi3Int64)
NO_VARIABLES(fmi3SetUInt64, const fmi3UInt64)
NO_VARIABLES(fmi3SetString, const fmi3String)

fmi3Status fmi3GetBinary(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, size_t sizes[],
                         fmi3Binary v[], size_t nv) {
    (void)vr; (void)sizes; (void)v; (void)nv;
    if (!c) return fmi3Error;
    if (nvr == 0) return fmi3OK;
    log_error(INST, "fmi3GetBinary: this FMU has no Binary variables");
    return fmi3Error;
}

fmi3Status fmi3SetBinary(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, const size_t sizes[],
                         const fmi3Binary v[], size_t nv) {
    (void)vr; (void)sizes; (void)v; (void)nv;
    if (!c) return fmi3Error;
    if (nvr == 0) return fmi3OK;
    log_error(INST, "fmi3SetBinary: this FMU has no Binary variables");
    return fmi3Error;
}

fmi3Status fmi3GetClock(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, fmi3Clock v[]) {
    (void)vr; (void)v;
    if (!c) return fmi3Error;
    if (nvr == 0) return fmi3OK;
    log_error(INST, "fmi3GetClock: this FMU has no clocks");
    return fmi3Error;
}

fmi3Status fmi3SetClock(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, const fmi3Clock v[]) {
    (void)vr; (void)v;
    if (!c) return fmi3Error;
    if (nvr == 0) return fmi3OK;
    log_error(INST, "fmi3SetClock: this FMU has no clocks");
    return fmi3Error;
}

static fmi3Status unsupported(fmi3Instance c, const char *fn) {
    if (!c) return fmi3Error;
    log_error(INST, "%s is not supported by this FMU", fn);
    return fmi3Error;
}

fmi3Status fmi3GetNumberOfVariableDependencies(fmi3Instance c, fmi3ValueReference vr, size_t *n) {
    (void)vr; (void)n;
    return unsupported(c, "fmi3GetNumberOfVariableDependencies");
}

fmi3Status fmi3GetVariableDependencies(fmi3Instance c, fmi3ValueReference dep, size_t ei[], fmi3ValueReference ind[],
                                       size_t eii[], fmi3DependencyKind kinds[], size_t n) {
    (void)dep; (void)ei; (void)ind; (void)eii; (void)kinds; (void)n;
    return unsupported(c, "fmi3GetVariableDependencies");
}

/* ---- FMU state ---------------------------------------------------------------------------- */
#define STATE_MAGIC 0x434F5333u /* "COS3" */
typedef struct {
    uint32_t magic;
    uint32_t size;
    int mode;
    ModelState s;
} Snapshot;

fmi3Status fmi3GetFMUState(fmi3Instance c, fmi3FMUState *state) {
    CHECK("fmi3GetFMUState", M_INST | M_INIT | M_STEP | M_EVENT | M_TERM);
    Snapshot *snap = *state ? (Snapshot *)*state : malloc(sizeof(Snapshot));
    if (!snap) return fmi3Error;
    snap->magic = STATE_MAGIC;
    snap->size = sizeof(Snapshot);
    snap->mode = INST->mode;
    snap->s = INST->s;
    *state = snap;
    return fmi3OK;
}

fmi3Status fmi3SetFMUState(fmi3Instance c, fmi3FMUState state) {
    CHECK("fmi3SetFMUState", M_INST | M_INIT | M_STEP | M_EVENT | M_TERM);
    Snapshot *snap = (Snapshot *)state;
    if (!snap || snap->magic != STATE_MAGIC || snap->size != sizeof(Snapshot)) {
        log_error(INST, "invalid FMU state");
        return fmi3Error;
    }
    INST->s = snap->s;
    INST->mode = (Mode)snap->mode;
    INST->dirty = true;
    return fmi3OK;
}

fmi3Status fmi3FreeFMUState(fmi3Instance c, fmi3FMUState *state) {
    if (!c) return fmi3Error;
    if (state && *state) {
        free(*state);
        *state = NULL;
    }
    return fmi3OK;
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance c, fmi3FMUState state, size_t *size) {
    (void)state;
    if (!c) return fmi3Error;
    *size = sizeof(Snapshot);
    return fmi3OK;
}

fmi3Status fmi3SerializeFMUState(fmi3Instance c, fmi3FMUState state, fmi3Byte bytes[], size_t size) {
    if (!c) return fmi3Error;
    if (!state || size < sizeof(Snapshot)) {
        log_error(INST, "serialization buffer too small (%zu < %zu)", size, sizeof(Snapshot));
        return fmi3Error;
    }
    memcpy(bytes, state, sizeof(Snapshot));
    return fmi3OK;
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance c, const fmi3Byte bytes[], size_t size, fmi3FMUState *state) {
    if (!c) return fmi3Error;
    Snapshot tmp;
    if (size != sizeof(Snapshot)) {
        log_error(INST, "serialized FMU state has %zu bytes, expected %zu", size, sizeof(Snapshot));
        return fmi3Error;
    }
    memcpy(&tmp, bytes, sizeof tmp);
    if (tmp.magic != STATE_MAGIC || tmp.size != sizeof(Snapshot)) {
        log_error(INST, "serialized FMU state is not from this FMU");
        return fmi3Error;
    }
    Snapshot *snap = *state ? (Snapshot *)*state : malloc(sizeof(Snapshot));
    if (!snap) return fmi3Error;
    *snap = tmp;
    *state = snap;
    return fmi3OK;
}

fmi3Status fmi3GetDirectionalDerivative(fmi3Instance c, const fmi3ValueReference u[], size_t nu,
                                        const fmi3ValueReference k[], size_t nk, const fmi3Float64 seed[],
                                        size_t ns, fmi3Float64 sens[], size_t nsens) {
    CHECK("fmi3GetDirectionalDerivative", M_INIT | M_STEP | M_EVENT);
    if (ns != nk || nsens != nu) {
        log_error(INST, "fmi3GetDirectionalDerivative: nSeed=%zu (nKnowns=%zu), nSensitivity=%zu "
                        "(nUnknowns=%zu): all variables are scalars", ns, nk, nsens, nu);
        return fmi3Error;
    }
    return ret(INST, core_directional(INST, u, nu, k, nk, seed, sens));
}

fmi3Status fmi3GetAdjointDerivative(fmi3Instance c, const fmi3ValueReference u[], size_t nu,
                                    const fmi3ValueReference k[], size_t nk, const fmi3Float64 seed[],
                                    size_t ns, fmi3Float64 sens[], size_t nsens) {
    (void)u; (void)nu; (void)k; (void)nk; (void)seed; (void)ns; (void)sens; (void)nsens;
    return unsupported(c, "fmi3GetAdjointDerivative");
}

fmi3Status fmi3EnterConfigurationMode(fmi3Instance c) { return unsupported(c, "fmi3EnterConfigurationMode"); }
fmi3Status fmi3ExitConfigurationMode(fmi3Instance c) { return unsupported(c, "fmi3ExitConfigurationMode"); }

fmi3Status fmi3GetIntervalDecimal(fmi3Instance c, const fmi3ValueReference vr[], size_t n, fmi3Float64 iv[],
                                  fmi3IntervalQualifier q[]) {
    (void)vr; (void)n; (void)iv; (void)q;
    return unsupported(c, "fmi3GetIntervalDecimal");
}
fmi3Status fmi3GetIntervalFraction(fmi3Instance c, const fmi3ValueReference vr[], size_t n, fmi3UInt64 cnt[],
                                   fmi3UInt64 res[], fmi3IntervalQualifier q[]) {
    (void)vr; (void)n; (void)cnt; (void)res; (void)q;
    return unsupported(c, "fmi3GetIntervalFraction");
}
fmi3Status fmi3GetShiftDecimal(fmi3Instance c, const fmi3ValueReference vr[], size_t n, fmi3Float64 s[]) {
    (void)vr; (void)n; (void)s;
    return unsupported(c, "fmi3GetShiftDecimal");
}
fmi3Status fmi3GetShiftFraction(fmi3Instance c, const fmi3ValueReference vr[], size_t n, fmi3UInt64 cnt[],
                                fmi3UInt64 res[]) {
    (void)vr; (void)n; (void)cnt; (void)res;
    return unsupported(c, "fmi3GetShiftFraction");
}
fmi3Status fmi3SetIntervalDecimal(fmi3Instance c, const fmi3ValueReference vr[], size_t n, const fmi3Float64 iv[]) {
    (void)vr; (void)n; (void)iv;
    return unsupported(c, "fmi3SetIntervalDecimal");
}
fmi3Status fmi3SetIntervalFraction(fmi3Instance c, const fmi3ValueReference vr[], size_t n, const fmi3UInt64 cnt[],
                                   const fmi3UInt64 res[]) {
    (void)vr; (void)n; (void)cnt; (void)res;
    return unsupported(c, "fmi3SetIntervalFraction");
}
fmi3Status fmi3SetShiftDecimal(fmi3Instance c, const fmi3ValueReference vr[], size_t n, const fmi3Float64 s[]) {
    (void)vr; (void)n; (void)s;
    return unsupported(c, "fmi3SetShiftDecimal");
}
fmi3Status fmi3SetShiftFraction(fmi3Instance c, const fmi3ValueReference vr[], size_t n, const fmi3UInt64 cnt[],
                                const fmi3UInt64 res[]) {
    (void)vr; (void)n; (void)cnt; (void)res;
    return unsupported(c, "fmi3SetShiftFraction");
}

fmi3Status fmi3EvaluateDiscreteStates(fmi3Instance c) {
    CHECK("fmi3EvaluateDiscreteStates", M_INIT | M_STEP | M_EVENT);
    return fmi3OK;
}

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance c, fmi3Boolean *needUpdate, fmi3Boolean *terminate,
                                    fmi3Boolean *nominalsChanged, fmi3Boolean *valuesChanged,
                                    fmi3Boolean *nextDefined, fmi3Float64 *next) {
    CHECK("fmi3UpdateDiscreteStates", M_EVENT);
    EventInfo e;
    Status st = core_event_update(INST, &e);
    if (needUpdate) *needUpdate = e.needs_update;
    if (terminate) *terminate = e.terminate;
    if (nominalsChanged) *nominalsChanged = fmi3False;
    if (valuesChanged) *valuesChanged = e.states_changed;
    if (nextDefined) *nextDefined = e.next_defined;
    if (next) *next = e.next_defined ? e.next_time : 0.0;
    return ret(INST, st);
}

/* ---- Model Exchange ----------------------------------------------------------------------- */
fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance c) {
    CHECK("fmi3EnterContinuousTimeMode", M_EVENT);
    INST->mode = MODE_STEP;
    return fmi3OK;
}

fmi3Status fmi3CompletedIntegratorStep(fmi3Instance c, fmi3Boolean noSetPrior, fmi3Boolean *enterEventMode,
                                       fmi3Boolean *terminate) {
    (void)noSetPrior;
    CHECK("fmi3CompletedIntegratorStep", M_STEP);
    *enterEventMode = fmi3False;
    *terminate = fmi3False;
    return fmi3OK;
}

fmi3Status fmi3SetTime(fmi3Instance c, fmi3Float64 time) {
    CHECK("fmi3SetTime", M_STEP | M_EVENT);
    INST->s.time = time;
    INST->dirty = true;
    return fmi3OK;
}

fmi3Status fmi3SetContinuousStates(fmi3Instance c, const fmi3Float64 x[], size_t nx) {
    CHECK("fmi3SetContinuousStates", M_STEP);
    if (nx != N_STATES) {
        log_error(INST, "fmi3SetContinuousStates: nx=%zu, expected %d", nx, N_STATES);
        return fmi3Error;
    }
    core_set_states(INST, x);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance c, fmi3Float64 dx[], size_t nx) {
    CHECK("fmi3GetContinuousStateDerivatives", M_INIT | M_STEP | M_EVENT | M_TERM | M_ERR);
    if (nx != N_STATES) {
        log_error(INST, "fmi3GetContinuousStateDerivatives: nx=%zu, expected %d", nx, N_STATES);
        return fmi3Error;
    }
    if (!model_check(INST)) return ret(INST, ST_ERROR);
    return ret(INST, core_get_derivatives(INST, dx));
}

fmi3Status fmi3GetEventIndicators(fmi3Instance c, fmi3Float64 z[], size_t nz) {
    CHECK("fmi3GetEventIndicators", M_INIT | M_STEP | M_EVENT | M_TERM | M_ERR);
    return ret(INST, core_get_event_indicators(INST, z, nz));
}

fmi3Status fmi3GetContinuousStates(fmi3Instance c, fmi3Float64 x[], size_t nx) {
    CHECK("fmi3GetContinuousStates", M_INIT | M_STEP | M_EVENT | M_TERM | M_ERR);
    if (nx != N_STATES) {
        log_error(INST, "fmi3GetContinuousStates: nx=%zu, expected %d", nx, N_STATES);
        return fmi3Error;
    }
    core_get_states(INST, x);
    return fmi3OK;
}

fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance c, fmi3Float64 x[], size_t nx) {
    if (!c) return fmi3Error;
    for (size_t k = 0; k < nx; k++) x[k] = 1.0;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance c, size_t *n) {
    if (!c) return fmi3Error;
    *n = N_EVENT_INDICATORS;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance c, size_t *n) {
    if (!c) return fmi3Error;
    *n = N_STATES;
    return fmi3OK;
}

/* ---- Co-Simulation ------------------------------------------------------------------------ */
fmi3Status fmi3EnterStepMode(fmi3Instance c) {
    CHECK("fmi3EnterStepMode", M_EVENT | M_STEP);
    INST->mode = MODE_STEP;
    return fmi3OK;
}

fmi3Status fmi3GetOutputDerivatives(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr,
                                    const fmi3Int32 orders[], fmi3Float64 v[], size_t nv) {
    (void)vr; (void)orders; (void)v; (void)nv;
    if (!c) return fmi3Error;
    if (nvr == 0) return fmi3OK;
    log_error(INST, "output derivatives are not supported (maxOutputDerivativeOrder=0)");
    return fmi3Error;
}

fmi3Status fmi3DoStep(fmi3Instance c, fmi3Float64 t, fmi3Float64 h, fmi3Boolean noSetPrior,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation,
                      fmi3Boolean *earlyReturn, fmi3Float64 *lastSuccessfulTime) {
    (void)noSetPrior;
    CHECK("fmi3DoStep", M_STEP);
    if (!INST->is_cosim) {
        log_error(INST, "fmi3DoStep called on a Model Exchange instance");
        return fmi3Error;
    }
    Status st = core_do_step(INST, t, h);
    if (eventHandlingNeeded) *eventHandlingNeeded = INST->event_pending;
    if (terminateSimulation) *terminateSimulation = INST->s.terminate;
    /* early: at an event in event mode, at the time the importer asked for in an intermediate
       update, or at a terminating event (only reported if the importer allows early return) */
    if (earlyReturn) *earlyReturn = INST->early_return && INST->early_return_allowed;
    if (lastSuccessfulTime) *lastSuccessfulTime = INST->s.time;
    return ret(INST, st);
}

fmi3Status fmi3ActivateModelPartition(fmi3Instance c, fmi3ValueReference clock, fmi3Float64 t) {
    (void)clock; (void)t;
    return unsupported(c, "fmi3ActivateModelPartition");
}
