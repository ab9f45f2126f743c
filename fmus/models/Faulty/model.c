/* Faulty - y = u, failing on purpose from t = fault_at: abort, segfault, hang, slow or Error. */
#define _POSIX_C_SOURCE 199309L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (fault < 0 || fault > 5) {
        log_error(M, "fault = %d is not one of 0 (none) .. 5 (error)", (int)fault);
        return 0;
    }
    if (fault == 5 && time_ >= fault_at && M->mode == MODE_STEP) {
        log_error(M, "t=%g: failing on purpose (fault 5)", time_);
        return 0;
    }
    return 1;
}

static void wall_sleep(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

void model_eval(Instance *M) {
    y = u;
    if (!M->mode == MODE_STEP || time_ < fault_at) return;
    switch (fault) {
    case 1:
        fprintf(stderr, "Faulty: t=%g: abort()\n", time_);
        fflush(stderr);
        abort();
    case 2: {
        fprintf(stderr, "Faulty: t=%g: writing through a null pointer\n", time_);
        fflush(stderr);
        volatile int *nowhere = NULL;
        *nowhere = 1;
        break;
    }
    case 3:
        for (;;) wall_sleep(1.0); /* never returns */
    case 4:
        wall_sleep(delay);
        break;
    default:
        break;
    }
}
