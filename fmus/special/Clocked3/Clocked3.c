/* Clocked3.c - a hand-written FMI 3.0 Co-Simulation FMU with Event Mode: a time-based periodic
 * input clock `tick` (constant interval 0.1 s) and the clocked outputs `count` (ticks so far)
 * and `t_tick` (time of the latest tick). Value references are those of modelDescription.xml.
 *
 * Like real clocked FMUs it cannot run without Event Mode: fmi3InstantiateCoSimulation returns
 * NULL (and logs why) when eventModeUsed is false. With Event Mode the calling sequence is the
 * standard's:
 *   Instantiate(eventModeUsed) -> EnterInitializationMode -> ExitInitializationMode (-> Event Mode)
 *   -> [SetClock(tick) -> UpdateDiscreteStates] -> EnterStepMode -> DoStep ... -> EnterEventMode
 *   -> SetClock(tick) -> UpdateDiscreteStates -> EnterStepMode -> DoStep ...
 * fmi3UpdateDiscreteStates runs the model partition of an active `tick` once (count += 1,
 * t_tick = time) and deactivates the clock. Illegal calls return fmi3Error with a log message
 * and leave the instance unchanged.
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

enum { VR_TIME = 0, VR_TICK = 1, VR_COUNT = 2, VR_T_TICK = 3 };
#define INTERVAL 0.1 /* the intervalDecimal of tick */

typedef enum { INSTANTIATED, INITIALIZATION, EVENT, STEP, TERMINATED } Mode;
static const char *MODE_NAMES[] = {"Instantiated", "Initialization Mode", "Event Mode",
                                   "Step Mode", "Terminated"};

typedef struct {
    char name[128];
    fmi3InstanceEnvironment env;
    fmi3LogMessageCallback log;
    fmi3Boolean logging;
    Mode mode;
    double time;
    fmi3Boolean tick;   /* the input clock is active (set in Event Mode, not yet processed) */
    fmi3Int32 count;
    double t_tick;
} Instance;

static void logf_(Instance *I, fmi3Status st, const char *fmt, ...) {
    if (!I || !I->log) return;
    if (st < fmi3Error && !I->logging) return; /* errors are logged whatever loggingOn says */
    char msg[512];
    int used = snprintf(msg, sizeof msg, "%s: ", I->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + used, sizeof msg - (size_t)used, fmt, ap);
    va_end(ap);
    I->log(I->env, st, st >= fmi3Error ? "logStatusError" : "logEvents", msg);
}

#define FAIL(I, ...) (logf_((I), fmi3Error, __VA_ARGS__), fmi3Error)

#define INST(fn)                    \
    Instance *I = (Instance *)inst; \
    if (!I) return fmi3Error;       \
    const char *FN = fn;            \
    (void)FN

static fmi3Status not_in_mode(Instance *I, const char *fn) {
    return FAIL(I, "%s is not allowed in %s", fn, MODE_NAMES[I->mode]);
}

static fmi3Status unsupported(fmi3Instance inst, const char *fn) {
    if (!inst) return fmi3Error;
    return FAIL((Instance *)inst, "%s is not supported by Clocked3", fn);
}

static fmi3Status bad_vr(Instance *I, const char *fn, fmi3ValueReference vr) {
    return FAIL(I, "%s: value reference %u is not a variable of this type", fn, (unsigned)vr);
}

static void log_without_instance(fmi3String name, fmi3InstanceEnvironment env,
                                 fmi3LogMessageCallback log, const char *msg) {
    if (!log) return;
    char text[512];
    snprintf(text, sizeof text, "%s: %s", name ? name : "Clocked3", msg);
    log(env, fmi3Error, "logStatusError", text);
}

static void reset_values(Instance *I) {
    I->mode = INSTANTIATED;
    I->time = 0;
    I->tick = fmi3False;
    I->count = 0;
    I->t_tick = 0;
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

fmi3Instance fmi3InstantiateCoSimulation(
    fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
    fmi3Boolean loggingOn, fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
    const fmi3ValueReference requiredIntermediateVariables[], size_t nRequired,
    fmi3InstanceEnvironment env, fmi3LogMessageCallback log, fmi3IntermediateUpdateCallback upd) {
    (void)resources; (void)visible; (void)earlyReturnAllowed;
    (void)requiredIntermediateVariables; (void)nRequired; (void)upd;
    if (!token || strcmp(token, MODEL_TOKEN) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "wrong instantiationToken %s, expected %s",
                 token ? token : "(null)", MODEL_TOKEN);
        log_without_instance(name, env, log, msg);
        return NULL;
    }
    if (!eventModeUsed) {
        log_without_instance(name, env, log,
                             "Clocked3 has clocks and needs Event Mode: instantiate it with "
                             "eventModeUsed = true");
        return NULL;
    }
    Instance *I = calloc(1, sizeof *I);
    if (!I) {
        log_without_instance(name, env, log, "out of memory");
        return NULL;
    }
    snprintf(I->name, sizeof I->name, "%s", name ? name : "Clocked3");
    I->env = env;
    I->log = log;
    I->logging = loggingOn;
    reset_values(I);
    return I;
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String name, fmi3String token, fmi3String resources,
                                          fmi3Boolean visible, fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment env,
                                          fmi3LogMessageCallback log) {
    (void)token; (void)resources; (void)visible; (void)loggingOn;
    log_without_instance(name, env, log, "Clocked3 has no Model Exchange interface");
    return NULL;
}

fmi3Instance fmi3InstantiateScheduledExecution(
    fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
    fmi3Boolean loggingOn, fmi3InstanceEnvironment env, fmi3LogMessageCallback log,
    fmi3ClockUpdateCallback clockUpdate, fmi3LockPreemptionCallback lock,
    fmi3UnlockPreemptionCallback unlock) {
    (void)token; (void)resources; (void)visible; (void)loggingOn; (void)clockUpdate; (void)lock;
    (void)unlock;
    log_without_instance(name, env, log, "Clocked3 has no Scheduled Execution interface");
    return NULL;
}

void fmi3FreeInstance(fmi3Instance inst) { free(inst); }

fmi3Status fmi3EnterInitializationMode(fmi3Instance inst, fmi3Boolean toleranceDefined,
                                       fmi3Float64 tolerance, fmi3Float64 startTime,
                                       fmi3Boolean stopTimeDefined, fmi3Float64 stopTime) {
    (void)toleranceDefined; (void)tolerance; (void)stopTimeDefined; (void)stopTime;
    INST("fmi3EnterInitializationMode");
    if (I->mode != INSTANTIATED) return not_in_mode(I, FN);
    I->time = startTime;
    I->mode = INITIALIZATION;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance inst) {
    INST("fmi3ExitInitializationMode");
    if (I->mode != INITIALIZATION) return not_in_mode(I, FN);
    I->mode = EVENT; /* eventModeUsed: Event Mode follows Initialization Mode */
    return fmi3OK;
}

fmi3Status fmi3EnterEventMode(fmi3Instance inst) {
    INST("fmi3EnterEventMode");
    if (I->mode != STEP) return not_in_mode(I, FN);
    I->mode = EVENT;
    return fmi3OK;
}

fmi3Status fmi3EnterStepMode(fmi3Instance inst) {
    INST("fmi3EnterStepMode");
    if (I->mode != EVENT) return not_in_mode(I, FN);
    I->tick = fmi3False; /* clocks are inactive outside Event Mode */
    I->mode = STEP;
    return fmi3OK;
}

fmi3Status fmi3SetClock(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                        const fmi3Clock values[]) {
    INST("fmi3SetClock");
    if (I->mode != EVENT) return not_in_mode(I, FN);
    for (size_t i = 0; i < nvr; i++)
        if (vr[i] != VR_TICK) return bad_vr(I, FN, vr[i]);
    for (size_t i = 0; i < nvr; i++) I->tick = values[i];
    return fmi3OK;
}

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance inst, fmi3Boolean *discreteStatesNeedUpdate,
                                    fmi3Boolean *terminateSimulation,
                                    fmi3Boolean *nominalsOfContinuousStatesChanged,
                                    fmi3Boolean *valuesOfContinuousStatesChanged,
                                    fmi3Boolean *nextEventTimeDefined, fmi3Float64 *nextEventTime) {
    INST("fmi3UpdateDiscreteStates");
    if (I->mode != EVENT) return not_in_mode(I, FN);
    if (I->tick) { /* the model partition of tick */
        I->count += 1;
        I->t_tick = I->time;
        I->tick = fmi3False;
        logf_(I, fmi3OK, "tick %d at t = %g", (int)I->count, I->time);
    }
    *discreteStatesNeedUpdate = fmi3False;
    *terminateSimulation = fmi3False;
    *nominalsOfContinuousStatesChanged = fmi3False;
    *valuesOfContinuousStatesChanged = fmi3False;
    *nextEventTimeDefined = fmi3False; /* the importer schedules the input clock itself */
    *nextEventTime = 0;
    return fmi3OK;
}

fmi3Status fmi3DoStep(fmi3Instance inst, fmi3Float64 currentCommunicationPoint,
                      fmi3Float64 communicationStepSize, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation,
                      fmi3Boolean *earlyReturn, fmi3Float64 *lastSuccessfulTime) {
    (void)noSetFMUStatePriorToCurrentPoint;
    INST("fmi3DoStep");
    if (I->mode != STEP) return not_in_mode(I, FN);
    if (!(communicationStepSize > 0))
        return FAIL(I, "%s: communicationStepSize %g must be > 0", FN, communicationStepSize);
    double tol = 1e-9 * fmax(1.0, fabs(I->time));
    if (fabs(currentCommunicationPoint - I->time) > tol)
        return FAIL(I, "%s: currentCommunicationPoint %.17g is not the FMU's time %.17g", FN,
                    currentCommunicationPoint, I->time);
    I->time = currentCommunicationPoint + communicationStepSize;
    *eventHandlingNeeded = fmi3False;
    *terminateSimulation = fmi3False;
    *earlyReturn = fmi3False;
    *lastSuccessfulTime = I->time;
    return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance inst) {
    INST("fmi3Terminate");
    if (I->mode == INSTANTIATED || I->mode == TERMINATED) return not_in_mode(I, FN);
    I->mode = TERMINATED;
    return fmi3OK;
}

fmi3Status fmi3Reset(fmi3Instance inst) {
    INST("fmi3Reset");
    reset_values(I);
    return fmi3OK;
}

/* ------------------------------------------------------------------ values */
fmi3Status fmi3GetFloat64(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                          fmi3Float64 values[], size_t nValues) {
    INST("fmi3GetFloat64");
    if (nValues != nvr)
        return FAIL(I, "%s: nValues = %zu but the value references have %zu elements", FN,
                    nValues, nvr);
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] == VR_TIME) values[i] = I->time;
        else if (vr[i] == VR_T_TICK) values[i] = I->t_tick;
        else return bad_vr(I, FN, vr[i]);
    }
    return fmi3OK;
}

fmi3Status fmi3GetInt32(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                        fmi3Int32 values[], size_t nValues) {
    INST("fmi3GetInt32");
    if (nValues != nvr)
        return FAIL(I, "%s: nValues = %zu but the value references have %zu elements", FN,
                    nValues, nvr);
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] != VR_COUNT) return bad_vr(I, FN, vr[i]);
        values[i] = I->count;
    }
    return fmi3OK;
}

fmi3Status fmi3GetClock(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                        fmi3Clock values[]) {
    (void)vr; (void)nvr; (void)values;
    INST("fmi3GetClock");
    return FAIL(I, "%s: tick is an input clock; only output clocks can be read", FN);
}

fmi3Status fmi3GetIntervalDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                  fmi3Float64 intervals[], fmi3IntervalQualifier qualifiers[]) {
    INST("fmi3GetIntervalDecimal");
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] != VR_TICK) return bad_vr(I, FN, vr[i]);
        intervals[i] = INTERVAL;
        qualifiers[i] = fmi3IntervalUnchanged; /* a constant clock: the only qualifier */
    }
    return fmi3OK;
}

fmi3Status fmi3GetShiftDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                               fmi3Float64 shifts[]) {
    INST("fmi3GetShiftDecimal");
    for (size_t i = 0; i < nvr; i++) {
        if (vr[i] != VR_TICK) return bad_vr(I, FN, vr[i]);
        shifts[i] = 0.0;
    }
    return fmi3OK;
}

/* Nothing is settable but the clock: every fmi3Set{Type} is an error. */
#define NOT_SETTABLE(T)                                                                      \
    fmi3Status fmi3Set##T(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,     \
                          const fmi3##T values[], size_t nValues) {                          \
        (void)values; (void)nValues;                                                         \
        INST("fmi3Set" #T);                                                                  \
        return nvr ? FAIL(I, "%s: value reference %u cannot be set", FN, (unsigned)vr[0])    \
                   : fmi3OK;                                                                 \
    }
#define NO_VARIABLES(T)                                                                      \
    fmi3Status fmi3Get##T(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,     \
                          fmi3##T values[], size_t nValues) {                                \
        (void)values; (void)nValues;                                                         \
        INST("fmi3Get" #T);                                                                  \
        return nvr ? bad_vr(I, FN, vr[0]) : fmi3OK;                                          \
    }                                                                                        \
    NOT_SETTABLE(T)

NOT_SETTABLE(Float64)
NOT_SETTABLE(Int32)
NO_VARIABLES(Float32)
NO_VARIABLES(Int8)
NO_VARIABLES(UInt8)
NO_VARIABLES(Int16)
NO_VARIABLES(UInt16)
NO_VARIABLES(UInt32)
NO_VARIABLES(Int64)
NO_VARIABLES(UInt64)
NO_VARIABLES(Boolean)
NO_VARIABLES(String)

fmi3Status fmi3GetBinary(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         size_t valueSizes[], fmi3Binary values[], size_t nValues) {
    (void)valueSizes; (void)values; (void)nValues;
    INST("fmi3GetBinary");
    return nvr ? bad_vr(I, FN, vr[0]) : fmi3OK;
}

fmi3Status fmi3SetBinary(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                         const size_t valueSizes[], const fmi3Binary values[], size_t nValues) {
    (void)valueSizes; (void)values; (void)nValues;
    INST("fmi3SetBinary");
    return nvr ? bad_vr(I, FN, vr[0]) : fmi3OK;
}

/* ------------------------------------------------------------------ not supported */
fmi3Status fmi3EnterConfigurationMode(fmi3Instance inst) {
    return unsupported(inst, "fmi3EnterConfigurationMode (no structural parameters)");
}
fmi3Status fmi3ExitConfigurationMode(fmi3Instance inst) {
    return unsupported(inst, "fmi3ExitConfigurationMode (no structural parameters)");
}
fmi3Status fmi3GetFMUState(fmi3Instance inst, fmi3FMUState *state) {
    (void)state;
    return unsupported(inst, "fmi3GetFMUState (canGetAndSetFMUState is false)");
}
fmi3Status fmi3SetFMUState(fmi3Instance inst, fmi3FMUState state) {
    (void)state;
    return unsupported(inst, "fmi3SetFMUState (canGetAndSetFMUState is false)");
}
fmi3Status fmi3FreeFMUState(fmi3Instance inst, fmi3FMUState *state) {
    (void)state;
    return unsupported(inst, "fmi3FreeFMUState (canGetAndSetFMUState is false)");
}
fmi3Status fmi3SerializedFMUStateSize(fmi3Instance inst, fmi3FMUState state, size_t *size) {
    (void)state; (void)size;
    return unsupported(inst, "fmi3SerializedFMUStateSize (canSerializeFMUState is false)");
}
fmi3Status fmi3SerializeFMUState(fmi3Instance inst, fmi3FMUState state, fmi3Byte serialized[],
                                 size_t size) {
    (void)state; (void)serialized; (void)size;
    return unsupported(inst, "fmi3SerializeFMUState (canSerializeFMUState is false)");
}
fmi3Status fmi3DeserializeFMUState(fmi3Instance inst, const fmi3Byte serialized[], size_t size,
                                   fmi3FMUState *state) {
    (void)serialized; (void)size; (void)state;
    return unsupported(inst, "fmi3DeserializeFMUState (canSerializeFMUState is false)");
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
fmi3Status fmi3GetIntervalFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                   fmi3UInt64 counters[], fmi3UInt64 resolutions[],
                                   fmi3IntervalQualifier qualifiers[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions; (void)qualifiers;
    return unsupported(inst, "fmi3GetIntervalFraction (supportsFraction is false)");
}
fmi3Status fmi3GetShiftFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                fmi3UInt64 counters[], fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return unsupported(inst, "fmi3GetShiftFraction (supportsFraction is false)");
}
fmi3Status fmi3SetIntervalDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                  const fmi3Float64 intervals[]) {
    (void)vr; (void)nvr; (void)intervals;
    return unsupported(inst, "fmi3SetIntervalDecimal (tick has a constant interval)");
}
fmi3Status fmi3SetIntervalFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                   const fmi3UInt64 counters[], const fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return unsupported(inst, "fmi3SetIntervalFraction (tick has a constant interval)");
}
fmi3Status fmi3SetShiftDecimal(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                               const fmi3Float64 shifts[]) {
    (void)vr; (void)nvr; (void)shifts;
    return unsupported(inst, "fmi3SetShiftDecimal (tick has a constant shift)");
}
fmi3Status fmi3SetShiftFraction(fmi3Instance inst, const fmi3ValueReference vr[], size_t nvr,
                                const fmi3UInt64 counters[], const fmi3UInt64 resolutions[]) {
    (void)vr; (void)nvr; (void)counters; (void)resolutions;
    return unsupported(inst, "fmi3SetShiftFraction (tick has a constant shift)");
}
fmi3Status fmi3EvaluateDiscreteStates(fmi3Instance inst) {
    return unsupported(inst, "fmi3EvaluateDiscreteStates");
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
