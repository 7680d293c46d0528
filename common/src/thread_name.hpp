// Names the calling thread (at most 15 characters), so that `top -H`, `ps -L` and profilers show
// which of the process's threads is busy.
#pragma once

#include <pthread.h>

namespace tb {

inline void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

}  // namespace tb
