/* Types3.c - a hand-written FMI 3.0 Co-Simulation FMU: a parameter and an output of every FMI 3
 * variable type, Float64 arrays, and a structural parameter n (set only in Configuration Mode)
 * that sizes the output y_n. Value references are those of modelDescription.xml.
 *
 * Equations (time = t):  y_<T> = p_<T> for every type T;  y_arr[i] = k*u[i] + t (i = 0..2);
 *                        y_n[i] = (i + 1) + t (i = 0..n-1).
 * fmi3Get/Set{Type} use FMI 3 array semantics: nValues is the total number of elements of all
 * value references, in the order given. Illegal calls return fmi3Error with a log message and
 * leave the instance unchanged (so a test can go on with a legal call).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi3Functions.h"

#ifndef MODEL_TOKEN
#error "MODEL_TOKEN (the instantiationToken of modelDescription.xml) must be defined"
#endif

enum {
    VR_TIME = 0,
    VR_P_I8 = 1, VR_P_U8, VR_P_I16, VR_P_U16, VR_P_I32, VR_P_U32, VR_P_I64, VR_P_U64,
    VR_P_F32 = 9, VR_P_STR = 10, VR_P_BIN = 11, VR_K = 12, VR_N = 13, VR_P_BOOL = 14,
    VR_U = 20, VR_Y_ARR = 21, VR_Y_N = 22,
    VR_Y_I8 = 101, VR_Y_U8, VR_Y_I16, VR_Y_U16, VR_Y_I32, VR_Y_U32, VR_Y_I64, VR_Y_U64,
    VR_Y_F32 = 109, VR_Y_STR = 110, VR_Y_BIN = 111, VR_Y_BOOL = 114,
};

#define N_ARR 3
#define N_MAX 16     /* the max of n in modelDescription.xml */
#define STR_MAX 256  /* bytes of p_str, including the terminating NUL */
#define BIN_MAX 64   /* the maxSize of p_bin */
#define STATE_MAGIC 0x54797033u /* "Typ3": marks a serialized FMU state of this FMU */

typedef enum { INSTANTIATED, CONFIGURATION, INITIALIZATION, STEP, TERMINATED } Mode;
static const char *MODE_NAMES[] = {"Instantiated", "Configuration Mode", "Initialization Mode",
                                   "Step Mode", "Terminated"};

/* Everything an FMU state holds: plain data, so a state is a memcpy of it. */
typedef struct {
    unsigned magic;
    Mode mode;
    double time;
    fmi3Int8 p_i8;
    fmi3UInt8 p_u8;
    fmi3Int16 p_i16;
    fmi3UInt16 p_u16;
    fmi3Int32 p_i32;
    fmi3UInt32 p_u32;
    fmi3Int64 p_i64;
    fmi3UInt64 p_u64;
    fmi3Float32 p_f32;
    fmi3Boolean p_bool;
    double k;
    fmi3UInt64 n;
    double u[N_ARR];
    char p_str[STR_MAX];
    fmi3Byte p_bin[BIN_MAX];
    size_t p_bin_size;
} Data;

typedef struct {
    Data d;
    char name[128];
    fmi3InstanceEnvironment env;
    fmi3LogMessageCallback log;
    fmi3Boolean logging;
} Instance;

static void start_values(Data *d) {
    static const fmi3Byte bin[] = {0xc0, 0xff, 0xee, 0x00, 0xff};
    memset(d, 0, sizeof *d);
    d->magic = STATE_MAGIC;
    d->mode = INSTANTIATED;
    d->p_i8 = -128;
    d->p_u8 = 255;
    d->p_i16 = -32768;
    d->p_u16 = 65535;
    d->p_i32 = (fmi3Int32)(-2147483647 - 1);
    d->p_u32 = 4294967295u;
    d->p_i64 = -INT64_C(4611686018427387904) - 1; /* -2^62 - 1 */
    d->p_u64 = UINT64_MAX;
    d->p_f32 = 0.1f;
    d->p_bool = fmi3True;
    d->k = 2.0;
    d->n = 3;
    for (int i = 0; i < N_ARR; i++) d->u[i] = i + 1;
    snprintf(d->p_str, sizeof d->p_str, "%s", "Gr\xc3\xbc\xc3\x9f" "e, FMI 3");
    memcpy(d->p_bin, bin, sizeof bin);
    d->p_bin_size = sizeof bin;
}

/* ------------------------------------------------------------------ logging and checks */
static void logf_(Instance *I, fmi3Status st, const char *category, const char *fmt, ...) {
    if (!I || !I->log) return;
    if (st < fmi3Error && !I->logging) return; /* errors are logged whatever loggingOn says */
    char msg[512];
    int used = snprintf(msg, sizeof msg, "%s: ", I->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + used, sizeof msg - (size_t)used, fmt, ap);
    va_end(ap);
    I->log(I->env, st, category, msg);
}

#define FAIL(I, ...) (logf_((I), fmi3Error, "logStatusError", __VA_ARGS__), fmi3Error)

static fmi3Status not_in_mode(Instance *I, const char *fn) {
    return FAIL(I, "%s is not allowed in %s", fn, MODE_NAMES[I->d.mode]);
}

static fmi3Status unsupported(fmi3Instance inst, const char *fn) {
    if (!inst) return fmi3Error;
    return FAIL((Instance *)inst, "%s is not supported by Types3", fn);
}

static fmi3Status bad_vr(Instance *I, const char *fn, fmi3ValueReference vr) {
    return FAIL(I, "%s: value reference %u is not a variable of this type", fn, (unsigned)vr);
}

static fmi3Status too_few(Instance *I, const char *fn, size_t nValues) {
    return FAIL(I, "%s: nValues = %zu is less than the number of elements of the value references",
                fn, nValues);
}

static fmi3Status count_mismatch(Instance *I, const char *fn, size_t nValues, size_t used) {
    return FAIL(I, "%s: nValues = %zu but the value references have %zu elements", fn, nValues,
                used);
}

/* Whether a (tunable) parameter or an input may be set now. */
static fmi3Status settable(Instance *I, const char *fn, fmi3ValueReference vr) {
    Mode m = I->d.mode;
    if (vr == VR_N) {
        if (m == CONFIGURATION) return fmi3OK;
        return FAIL(I, "%s: variable n (value reference %u) can only be set in Configuration Mode",
                    fn, (unsigned)vr);
    }
    if (m == INSTANTIATED || m == INITIALIZATION || m == STEP) return fmi3OK;
    return FAIL(I, "%s: value reference %u cannot be set in %s", fn, (unsigned)vr,
                MODE_NAMES[m]);
}

static fmi3Status not_settable(Instance *I, const char *fn, fmi3ValueReference vr) {
    return FAIL(I, "%s: value reference %u is an output or the independent variable and cannot be "
                "set", fn, (unsigned)vr);
}

#define INST(fn)                   \
    Instance *I = (Instance *)inst; \
    if (!I) return fmi3Error;      \
    const char *FN = fn;           \
    (void)FN

/* ------------------------------------------------------------------ integer-type accessors */
/* Each scalar integer type T has one parameter P (settable) and one output Y = P. */
#define SCALAR_ACCESSORS(T, P_VR, Y_VR, FIELD)                                                  \
    fmi3Status fmi3Get##T(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,        \
                          fmi3##T values[], size_t nValues) {                                   \
        INST("fmi3Get" #T);                                                                     \
        size_t k = 0;                                                                           \
        for (size_t i = 0; i < nvr; i++) {                                                      \
            if (vr[i] != P_VR && vr[i] != Y_VR) return bad_vr(I, FN, vr[i]);                    \
            if (k >= nValues) return too_few(I, FN, nValues);                                   \
            values[k++] = I->d.FIELD;                                                           \
        }                                                                                       \
        return k == nValues ? fmi3OK : count_mismatch(I, FN, nValues, k);                       \
    }                                                                                           \
    fmi3Status fmi3Set##T(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,        \
                          const fmi3##T values[], size_t nValues) {                             \
        INST("fmi3Set" #T);                                                                     \
        if (nvr != nValues) return count_mismatch(I, FN, nValues, nvr);                         \
        for (size_t i = 0; i < nvr; i++) {                                                      \
            if (vr[i] == Y_VR) return not_settable(I, FN, vr[i]);                               \
            if (vr[i] != P_VR) return bad_vr(I, FN, vr[i]);                                     \
            if (settable(I, FN, vr[i]) != fmi3OK) return fmi3Error;                             \
        }                                                                                       \
        for (size_t i = 0; i < nvr; i++) I->d.FIELD = values[i];                                \
        return fmi3OK;                                                                          \
    }

SCALAR_ACCESSORS(Int8, VR_P_I8, VR_Y_I8, p_i8)
SCALAR_ACCESSORS(UInt8, VR_P_U8, VR_Y_U8, p_u8)
SCALAR_ACCESSORS(Int16, VR_P_I16, VR_Y_I16, p_i16)
SCALAR_ACCESSORS(UInt16, VR_P_U16, VR_Y_U16, p_u16)
SCALAR_ACCESSORS(Int32, VR_P_I32, VR_Y_I32, p_i32)
SCALAR_ACCESSORS(UInt32, VR_P_U32, VR_Y_U32, p_u32)
SCALAR_ACCESSORS(Int64, VR_P_I64, VR_Y_I64, p_i64)
SCALAR_ACCESSORS(Float32, VR_P_F32, VR_Y_F32, p_f32)
SCALAR_ACCESSORS(Boolean, VR_P_BOOL, VR_Y_BOOL, p_bool)

/* UInt64 also holds the structural parameter n. */
fmi3Status fmi3GetUInt64(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         fmi3UInt64 values[], size_t nValues) {
    INST("fmi3GetUInt64");
    size_t k = 0;
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] != VR_P_U64 && vr[i] != VR_Y_U64 && vr[i] != VR_N) return bad_vr(I, FN, vr[i]);
        if (k >= nValues) return too_few(I, FN, nValues);
        values[k++] = vr[i] == VR_N ? I->d.n : I->d.p_u64;
    }
    return k == nValues ? fmi3OK : count_mismatch(I, FN, nValues, k);
}

fmi3Status fmi3SetUInt64(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         const fmi3UInt64 values[], size_t nValues) {
    INST("fmi3SetUInt64");
    if (nvr != nValues) return count_mismatch(I, FN, nValues, nvr);
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] == VR_Y_U64) return not_settable(I, FN, vr[i]);
        if (vr[i] != VR_P_U64 && vr[i] != VR_N) return bad_vr(I, FN, vr[i]);
        if (settable(I, FN, vr[i]) != fmi3OK) return fmi3Error;
        if (vr[i] == VR_N && (values[i] < 1 || values[i] > N_MAX))
            return FAIL(I, "%s: n = %llu is outside [1, %d]", FN, (unsigned long long)values[i],
                        N_MAX);
    }
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] == VR_N) I->d.n = values[i];
        else I->d.p_u64 = values[i];
    }
    return fmi3OK;
}

/* ------------------------------------------------------------------ Float64 (scalars, arrays) */
static size_t float64_size(const Data *d, fmi3ValueReference vr) {
    switch (vr) {
    case VR_TIME: case VR_K: return 1;
    case VR_U: case VR_Y_ARR: return N_ARR;
    case VR_Y_N: return (size_t)d->n;
    default: return 0; /* not a Float64 */
    }
}

fmi3Status fmi3GetFloat64(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                          fmi3Float64 values[], size_t nValues) {
    INST("fmi3GetFloat64");
    const Data *d = &I->d;
    size_t k = 0;
    for (size_t i = 0; i < nvr; i++) {
        size_t size = float64_size(d, vr[i]);
        if (!size) return bad_vr(I, FN, vr[i]);
        if (k + size > nValues) return too_few(I, FN, nValues);
        for (size_t j = 0; j < size; j++) {
            double v = 0;
            switch (vr[i]) {
            case VR_TIME: v = d->time; break;
            case VR_K: v = d->k; break;
            case VR_U: v = d->u[j]; break;
            case VR_Y_ARR: v = d->k * d->u[j] + d->time; break;
            case VR_Y_N: v = (double)(j + 1) + d->time; break;
            }
            values[k++] = v;
        }
    }
    return k == nValues ? fmi3OK : count_mismatch(I, FN, nValues, k);
}

fmi3Status fmi3SetFloat64(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                          const fmi3Float64 values[], size_t nValues) {
    INST("fmi3SetFloat64");
    size_t total = 0;
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] == VR_TIME || vr[i] == VR_Y_ARR || vr[i] == VR_Y_N)
            return not_settable(I, FN, vr[i]);
        if (vr[i] != VR_K && vr[i] != VR_U) return bad_vr(I, FN, vr[i]);
        if (settable(I, FN, vr[i]) != fmi3OK) return fmi3Error;
        total += float64_size(&I->d, vr[i]);
    }
    if (total != nValues) return count_mismatch(I, FN, nValues, total);
    size_t k = 0;
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] == VR_K) {
            I->d.k = values[k++];
        } else {
            for (int j = 0; j < N_ARR; j++) I->d.u[j] = values[k++];
        }
    }
    return fmi3OK;
}

/* ------------------------------------------------------------------ String and Binary */
fmi3Status fmi3GetString(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         fmi3String values[], size_t nValues) {
    INST("fmi3GetString");
    size_t k = 0;
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] != VR_P_STR && vr[i] != VR_Y_STR) return bad_vr(I, FN, vr[i]);
        if (k >= nValues) return too_few(I, FN, nValues);
        values[k++] = I->d.p_str; /* valid until the next call that changes p_str */
    }
    return k == nValues ? fmi3OK : count_mismatch(I, FN, nValues, k);
}

fmi3Status fmi3SetString(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         const fmi3String values[], size_t nValues) {
    INST("fmi3SetString");
    if (nvr != nValues) return count_mismatch(I, FN, nValues, nvr);
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] == VR_Y_STR) return not_settable(I, FN, vr[i]);
        if (vr[i] != VR_P_STR) return bad_vr(I, FN, vr[i]);
        if (settable(I, FN, vr[i]) != fmi3OK) return fmi3Error;
        if (!values[i]) return FAIL(I, "%s: NULL string", FN);
        if (strlen(values[i]) >= STR_MAX)
            return FAIL(I, "%s: p_str holds at most %d bytes", FN, STR_MAX - 1);
    }
    for (size_t i = 0; i < nvr; i++) snprintf(I->d.p_str, sizeof I->d.p_str, "%s", values[i]);
    return fmi3OK;
}

fmi3Status fmi3GetBinary(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         size_t valueSizes[], fmi3Binary values[], size_t nValues) {
    INST("fmi3GetBinary");
    size_t k = 0;
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] != VR_P_BIN && vr[i] != VR_Y_BIN) return bad_vr(I, FN, vr[i]);
        if (k >= nValues) return too_few(I, FN, nValues);
        valueSizes[k] = I->d.p_bin_size;
        values[k++] = I->d.p_bin;
    }
    return k == nValues ? fmi3OK : count_mismatch(I, FN, nValues, k);
}

fmi3Status fmi3SetBinary(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         const size_t valueSizes[], const fmi3Binary values[], size_t nValues) {
    INST("fmi3SetBinary");
    if (nvr != nValues) return count_mismatch(I, FN, nValues, nvr);
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] == VR_Y_BIN) return not_settable(I, FN, vr[i]);
        if (vr[i] != VR_P_BIN) return bad_vr(I, FN, vr[i]);
        if (settable(I, FN, vr[i]) != fmi3OK) return fmi3Error;
        if (valueSizes[i] > BIN_MAX)
            return FAIL(I, "%s: %zu bytes exceed the maxSize %d of p_bin", FN, valueSizes[i],
                        BIN_MAX);
        if (valueSizes[i] && !values[i]) return FAIL(I, "%s: NULL binary", FN);
    }
    for (size_t i = 0; i < nvr; i++) {
        if (valueSizes[i]) memcpy(I->d.p_bin, values[i], valueSizes[i]);
        I->d.p_bin_size = valueSizes[i];
    }
    return fmi3OK;
}

/* ------------------------------------------------------------------ life cycle */
const char *fmi3GetVersion(void) { return fmi3Version; }

fmi3Status fmi3SetDebugLogging(fmi3Instance inst, fmi3Boolean loggingOn, size_t nCategories,
                               const fmi3String categories[]) {
    (void)nCategories; (void)categories;
    INST("fmi3SetDebugLogging");
    I->logging = loggingOn;
    return fmi3OK;
}

static void log_without_instance(fmi3String name, fmi3InstanceEnvironment env,
                                 fmi3LogMessageCallback log, const char *msg) {
    if (!log) return;
    char text[512];
    snprintf(text, sizeof text, "%s: %s", name ? name : "Types3", msg);
    log(env, fmi3Error, "logStatusError", text);
}

fmi3Instance fmi3InstantiateCoSimulation(
    fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
    fmi3Boolean loggingOn, fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
    const fmi3ValueReference requiredIntermediateVariables[], size_t nRequired,
    fmi3InstanceEnvironment env, fmi3LogMessageCallback log, fmi3IntermediateUpdateCallback upd) {
    (void)resources; (void)visible; (void)eventModeUsed; (void)earlyReturnAllowed;
    (void)requiredIntermediateVariables; (void)nRequired; (void)upd;
    if (!token || strcmp(token, MODEL_TOKEN) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "wrong instantiationToken %s, expected %s",
                 token ? token : "(null)", MODEL_TOKEN);
        log_without_instance(name, env, log, msg);
        return NULL;
    }
    Instance *I = calloc(1, sizeof *I);
    if (!I) {
        log_without_instance(name, env, log, "out of memory");
        return NULL;
    }
    snprintf(I->name, sizeof I->name, "%s", name ? name : "Types3");
    I->env = env;
    I->log = log;
    I->logging = loggingOn;
    start_values(&I->d);
    return I;
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String name, fmi3String token, fmi3String resources,
                                          fmi3Boolean visible, fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment env,
                                          fmi3LogMessageCallback log) {
    (void)token; (void)resources; (void)visible; (void)loggingOn;
    log_without_instance(name, env, log, "Types3 has no Model Exchange interface");
    return NULL;
}

fmi3Instance fmi3InstantiateScheduledExecution(
    fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
    fmi3Boolean loggingOn, fmi3InstanceEnvironment env, fmi3LogMessageCallback log,
    fmi3ClockUpdateCallback clockUpdate, fmi3LockPreemptionCallback lock,
    fmi3UnlockPreemptionCallback unlock) {
    (void)token; (void)resources; (void)visible; (void)loggingOn; (void)clockUpdate; (void)lock;
    (void)unlock;
    log_without_instance(name, env, log, "Types3 has no Scheduled Execution interface");
    return NULL;
}

void fmi3FreeInstance(fmi3Instance inst) { free(inst); }

fmi3Status fmi3EnterConfigurationMode(fmi3Instance inst) {
    INST("fmi3EnterConfigurationMode");
    if (I->d.mode != INSTANTIATED) {
        /* n is fixed: no Reconfiguration Mode from Step Mode */
        return not_in_mode(I, FN);
    }
    I->d.mode = CONFIGURATION;
    return fmi3OK;
}

fmi3Status fmi3ExitConfigurationMode(fmi3Instance inst) {
    INST("fmi3ExitConfigurationMode");
    if (I->d.mode != CONFIGURATION) return not_in_mode(I, FN);
    I->d.mode = INSTANTIATED;
    return fmi3OK;
}

fmi3Status fmi3EnterInitializationMode(fmi3Instance inst, fmi3Boolean toleranceDefined,
                                       fmi3Float64 tolerance, fmi3Float64 startTime,
                                       fmi3Boolean stopTimeDefined, fmi3Float64 stopTime) {
    (void)toleranceDefined; (void)tolerance; (void)stopTimeDefined; (void)stopTime;
    INST("fmi3EnterInitializationMode");
    if (I->d.mode != INSTANTIATED) return not_in_mode(I, FN);
    I->d.time = startTime;
    I->d.mode = INITIALIZATION;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance inst) {
    INST("fmi3ExitInitializationMode");
    if (I->d.mode != INITIALIZATION) return not_in_mode(I, FN);
    I->d.mode = STEP;
    return fmi3OK;
}

fmi3Status fmi3DoStep(fmi3Instance inst, fmi3Float64 currentCommunicationPoint,
                      fmi3Float64 communicationStepSize, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation,
                      fmi3Boolean *earlyReturn, fmi3Float64 *lastSuccessfulTime) {
    (void)noSetFMUStatePriorToCurrentPoint;
    INST("fmi3DoStep");
    if (I->d.mode != STEP) return not_in_mode(I, FN);
    if (!(communicationStepSize > 0))
        return FAIL(I, "%s: communicationStepSize %g must be > 0", FN, communicationStepSize);
    double tol = 1e-9 * fmax(1.0, fabs(I->d.time));
    if (fabs(currentCommunicationPoint - I->d.time) > tol)
        return FAIL(I, "%s: currentCommunicationPoint %.17g is not the FMU's time %.17g", FN,
                    currentCommunicationPoint, I->d.time);
    I->d.time = currentCommunicationPoint + communicationStepSize;
    *eventHandlingNeeded = fmi3False;
    *terminateSimulation = fmi3False;
    *earlyReturn = fmi3False;
    *lastSuccessfulTime = I->d.time;
    return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance inst) {
    INST("fmi3Terminate");
    if (I->d.mode != STEP && I->d.mode != INITIALIZATION) return not_in_mode(I, FN);
    I->d.mode = TERMINATED;
    return fmi3OK;
}

fmi3Status fmi3Reset(fmi3Instance inst) {
    INST("fmi3Reset");
    start_values(&I->d);
    return fmi3OK;
}

/* ------------------------------------------------------------------ FMU state */
fmi3Status fmi3GetFMUState(fmi3Instance inst, fmi3FMUState *state) {
    INST("fmi3GetFMUState");
    if (I->d.mode == CONFIGURATION) return not_in_mode(I, FN);
    Data *copy = *state ? (Data *)*state : malloc(sizeof *copy);
    if (!copy) return FAIL(I, "%s: out of memory", FN);
    *copy = I->d;
    *state = copy;
    return fmi3OK;
}

fmi3Status fmi3SetFMUState(fmi3Instance inst, fmi3FMUState state) {
    INST("fmi3SetFMUState");
    if (I->d.mode == CONFIGURATION) return not_in_mode(I, FN);
    if (!state || ((Data *)state)->magic != STATE_MAGIC) return FAIL(I, "%s: not a Types3 state", FN);
    I->d = *(Data *)state;
    return fmi3OK;
}

fmi3Status fmi3FreeFMUState(fmi3Instance inst, fmi3FMUState *state) {
    INST("fmi3FreeFMUState");
    if (state) {
        free(*state);
        *state = NULL;
    }
    return fmi3OK;
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance inst, fmi3FMUState state, size_t *size) {
    (void)state;
    INST("fmi3SerializedFMUStateSize");
    *size = sizeof(Data);
    return fmi3OK;
}

fmi3Status fmi3SerializeFMUState(fmi3Instance inst, fmi3FMUState state, fmi3Byte serialized[],
                                 size_t size) {
    INST("fmi3SerializeFMUState");
    if (!state) return FAIL(I, "%s: NULL state", FN);
    if (size < sizeof(Data)) return FAIL(I, "%s: %zu bytes are too few", FN, size);
    memcpy(serialized, state, sizeof(Data));
    return fmi3OK;
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance inst, const fmi3Byte serialized[], size_t size,
                                   fmi3FMUState *state) {
    INST("fmi3DeserializeFMUState");
    Data d;
    if (size != sizeof d) return FAIL(I, "%s: %zu bytes, expected %zu", FN, size, sizeof d);
    memcpy(&d, serialized, sizeof d);
    if (d.magic != STATE_MAGIC || d.n < 1 || d.n > N_MAX || d.p_bin_size > BIN_MAX ||
        (unsigned)d.mode > TERMINATED || memchr(d.p_str, 0, STR_MAX) == NULL)
        return FAIL(I, "%s: the bytes are not a serialized Types3 state", FN);
    Data *copy = *state ? (Data *)*state : malloc(sizeof *copy);
    if (!copy) return FAIL(I, "%s: out of memory", FN);
    *copy = d;
    *state = copy;
    return fmi3OK;
}

/* ------------------------------------------------------------------ not supported */
fmi3Status fmi3GetClock(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                        fmi3Clock values[]) {
    (void)vr; (void)nvr; (void)values;
    return unsupported(inst, "fmi3GetClock (Types3 has no clocks)");
}
fmi3Status fmi3SetClock(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                        const fmi3Clock values[]) {
    (void)vr; (void)nvr; (void)values;
    return unsupported(inst, "fmi3SetClock (Types3 has no clocks)");
}
fmi3Status fmi3GetNumberOfVariableDependencies(fmi3Instance inst, fmi3ValueReference vr,
                                               size_t *n) {
    (void)vr; (void)n;
    return unsupported(inst, "fmi3GetNumberOfVariableDependencies");
}
fmi3Status fmi3GetVariableDependencies(fmi3Instance inst, fmi3ValueReference dependent,
                                       size_t elementIndicesOfDependent[],
                                       fmi3ValueReference independents[],
                                       size_t elementIndicesOfIndependents[],
                                       fmi3DependencyKind dependencyKinds[], size_t n) {
    (void)dependent; (void)elementIndicesOfDependent; (void)independents;
    (void)elementIndicesOfIndependents; (void)dependencyKinds; (void)n;
    return unsupported(inst, "fmi3GetVariableDependencies");
}
fmi3Status fmi3GetDirectionalDerivative(fmi3Instance inst, const fmi3ValueReference unknowns[],
                                        size_t nUnknowns, const fmi3ValueReference knowns[],
                                        size_t nKnowns, const fmi3Float64 seed[], size_t nSeed,
                                        fmi3Float64 sensitivity[], size_t nSensitivity) {
    (void)unknowns; (void)nUnknowns; (void)knowns; (void)nKnowns; (void)seed; (void)nSeed;
    (void)sensitivity; (void)nSensitivity;
    return unsupported(inst, "fmi3GetDirectionalDerivative");
}
fmi3Status fmi3GetAdjointDerivative(fmi3Instance inst, const fmi3ValueReference unknowns[],
                                    size_t nUnknowns, const fmi3ValueReference knowns[],
                                    size_t nKnowns, const fmi3Float64 seed[], size_t nSeed,
                                    fmi3Float64 sensitivity[], size_t nSensitivity) {
    (void)unknowns; (void)nUnknowns; (void)knowns; (void)nKnowns; (void)seed; (void)nSeed;
    (void)sensitivity; (void)nSensitivity;
    return unsupported(inst, "fmi3GetAdjointDerivative");
}
fmi3Status fmi3GetIntervalDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                  fmi3Float64 intervals[], fmi3IntervalQualifier qualifiers[]) {
    (void)vr; (void)nvr; (void)intervals; (void)qualifiers;
    return unsupported(inst, "fmi3GetIntervalDecimal (Types3 has no clocks)");
}
fmi3Status fmi3GetIntervalFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                   fmi3UInt64 counters[], fmi3UInt64 resolutions[],
                                   fmi3IntervalQualifier qualifiers[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions; (void)qualifiers;
    return unsupported(inst, "fmi3GetIntervalFraction (Types3 has no clocks)");
}
fmi3Status fmi3GetShiftDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                               fmi3Float64 shifts[]) {
    (void)vr; (void)nvr; (void)shifts;
    return unsupported(inst, "fmi3GetShiftDecimal (Types3 has no clocks)");
}
fmi3Status fmi3GetShiftFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                fmi3UInt64 counters[], fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return unsupported(inst, "fmi3GetShiftFraction (Types3 has no clocks)");
}
fmi3Status fmi3SetIntervalDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                  const fmi3Float64 intervals[]) {
    (void)vr; (void)nvr; (void)intervals;
    return unsupported(inst, "fmi3SetIntervalDecimal (Types3 has no clocks)");
}
fmi3Status fmi3SetIntervalFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                   const fmi3UInt64 counters[], const fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return unsupported(inst, "fmi3SetIntervalFraction (Types3 has no clocks)");
}
fmi3Status fmi3SetShiftDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                               const fmi3Float64 shifts[]) {
    (void)vr; (void)nvr; (void)shifts;
    return unsupported(inst, "fmi3SetShiftDecimal (Types3 has no clocks)");
}
fmi3Status fmi3SetShiftFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                const fmi3UInt64 counters[], const fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return unsupported(inst, "fmi3SetShiftFraction (Types3 has no clocks)");
}
fmi3Status fmi3EnterEventMode(fmi3Instance inst) {
    return unsupported(inst, "fmi3EnterEventMode (hasEventMode is false)");
}
fmi3Status fmi3EvaluateDiscreteStates(fmi3Instance inst) {
    return unsupported(inst, "fmi3EvaluateDiscreteStates");
}
fmi3Status fmi3UpdateDiscreteStates(fmi3Instance inst, fmi3Boolean *discreteStatesNeedUpdate,
                                    fmi3Boolean *terminateSimulation,
                                    fmi3Boolean *nominalsOfContinuousStatesChanged,
                                    fmi3Boolean *valuesOfContinuousStatesChanged,
                                    fmi3Boolean *nextEventTimeDefined, fmi3Float64 *nextEventTime) {
    (void)discreteStatesNeedUpdate; (void)terminateSimulation;
    (void)nominalsOfContinuousStatesChanged; (void)valuesOfContinuousStatesChanged;
    (void)nextEventTimeDefined; (void)nextEventTime;
    return unsupported(inst, "fmi3UpdateDiscreteStates (hasEventMode is false)");
}
fmi3Status fmi3EnterStepMode(fmi3Instance inst) {
    return unsupported(inst, "fmi3EnterStepMode (hasEventMode is false)");
}
fmi3Status fmi3GetOutputDerivatives(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                    const fmi3Int32 orders[], fmi3Float64 values[],
                                    size_t nValues) {
    (void)vr; (void)nvr; (void)orders; (void)values; (void)nValues;
    return unsupported(inst, "fmi3GetOutputDerivatives");
}
fmi3Status fmi3ActivateModelPartition(fmi3Instance inst, fmi3ValueReference clockReference,
                                      fmi3Float64 activationTime) {
    (void)clockReference; (void)activationTime;
    return unsupported(inst, "fmi3ActivateModelPartition (no Scheduled Execution)");
}
/* Model Exchange */
fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance inst) {
    return unsupported(inst, "fmi3EnterContinuousTimeMode (no Model Exchange)");
}
fmi3Status fmi3CompletedIntegratorStep(fmi3Instance inst, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi3Boolean *enterEventMode,
                                       fmi3Boolean *terminateSimulation) {
    (void)noSetFMUStatePriorToCurrentPoint; (void)enterEventMode; (void)terminateSimulation;
    return unsupported(inst, "fmi3CompletedIntegratorStep (no Model Exchange)");
}
fmi3Status fmi3SetTime(fmi3Instance inst, fmi3Float64 time) {
    (void)time;
    return unsupported(inst, "fmi3SetTime (no Model Exchange)");
}
fmi3Status fmi3SetContinuousStates(fmi3Instance inst, const fmi3Float64 x[], size_t nx) {
    (void)x; (void)nx;
    return unsupported(inst, "fmi3SetContinuousStates (no Model Exchange)");
}
fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance inst, fmi3Float64 dx[], size_t nx) {
    (void)dx; (void)nx;
    return unsupported(inst, "fmi3GetContinuousStateDerivatives (no Model Exchange)");
}
fmi3Status fmi3GetEventIndicators(fmi3Instance inst, fmi3Float64 z[], size_t nz) {
    (void)z; (void)nz;
    return unsupported(inst, "fmi3GetEventIndicators (no Model Exchange)");
}
fmi3Status fmi3GetContinuousStates(fmi3Instance inst, fmi3Float64 x[], size_t nx) {
    (void)x; (void)nx;
    return unsupported(inst, "fmi3GetContinuousStates (no Model Exchange)");
}
fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance inst, fmi3Float64 nominals[],
                                             size_t nx) {
    (void)nominals; (void)nx;
    return unsupported(inst, "fmi3GetNominalsOfContinuousStates (no Model Exchange)");
}
fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance inst, size_t *nz) {
    (void)nz;
    return unsupported(inst, "fmi3GetNumberOfEventIndicators (no Model Exchange)");
}
fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance inst, size_t *nx) {
    (void)nx;
    return unsupported(inst, "fmi3GetNumberOfContinuousStates (no Model Exchange)");
}
