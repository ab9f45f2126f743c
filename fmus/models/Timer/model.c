/* Timer - time events: a jump of y at t_event, a request to terminate at t_terminate. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    (void)M;
    return 1;
}

void model_eval(Instance *M) { y = fired ? y1 : y0; }

void model_event(Instance *M) {
    if (!fired && core_time_reached(M, t_event)) {
        fired = true;
        events += 1;
        log_info(M, "t=%g: y jumps from %g to %g", time_, y0, y1);
    }
    if (!M->s.terminate && core_time_reached(M, t_terminate)) {
        events += 1;
        M->s.terminate = true;
        log_info(M, "t=%g: the FMU asks to terminate the simulation", time_);
    }
}

double model_next_event_time(Instance *M) {
    if (M->s.terminate) return INFINITY;
    return fired ? t_terminate : fmin(t_event, t_terminate);
}
