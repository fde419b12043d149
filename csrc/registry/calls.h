// Call counting shared by the registration wrappers and the ops' fallbacks (no torch here).
#pragma once

#include <atomic>
#include <cstdint>

namespace gemforge::reg {

inline std::atomic<bool> g_recording{false};

// While recording: the fallback counter of the overload this thread is serving.
inline thread_local std::atomic<int64_t>* tl_fallbacks = nullptr;

// An op handed its call to torch's own kernel.
inline void note_fallback() {
  if (std::atomic<int64_t>* counter = tl_fallbacks) counter->fetch_add(1, std::memory_order_relaxed);
}

}  // namespace gemforge::reg
