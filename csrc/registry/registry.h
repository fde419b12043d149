// The registration table's row type, the call counters, and the enable/disable machinery.
#pragma once

#include <torch/library.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace gemforge::reg {

enum Backend : unsigned { kCpu = 1, kCuda = 2 };
constexpr unsigned kBoth = kCpu | kCuda;

// One row: an aten overload, its family, the backends that serve it, and how to make the
// kernel for torch::Library (the same entry point serves every backend: it launches on the
// device of its tensors).
struct OpRow {
  const char* overload;
  const char* family;
  unsigned backends;
  torch::CppFunction (*make)();
  std::atomic<int64_t>* calls;
};

const std::vector<OpRow>& op_table();  // op_table.cpp

// ---- call statistics: one relaxed atomic add per call, and only while recording ------------------
inline std::atomic<bool> g_recording{false};

template <auto Fn, class Sig = decltype(Fn)> struct counted;
template <auto Fn, class R, class... A> struct counted<Fn, R (*)(A...)> {
  static inline std::atomic<int64_t> calls{0};
  static R call(A... args) {
    if (g_recording.load(std::memory_order_relaxed)) calls.fetch_add(1, std::memory_order_relaxed);
    return Fn(std::forward<A>(args)...);
  }
};
template <auto Fn> torch::CppFunction make_kernel() {
  return torch::CppFunction::makeFromUnboxedFunction(TORCH_FN(counted<Fn>::call));
}

// ---- what is installed --------------------------------------------------------------------------
using Active = std::vector<std::pair<std::string, std::string>>;  // (overload, backend)

Active select(const std::vector<std::string>* include, const std::vector<std::string>* exclude,
              const std::vector<std::string>* backends);
void set_active(const Active& rows);
Active active();
std::vector<std::string> available_backends();
const char* backend_name(Backend b);

}  // namespace gemforge::reg

#define GF_OP(overload, family, fn, backends) \
  { overload, family, backends, &::gemforge::reg::make_kernel<&fn>, &::gemforge::reg::counted<&fn>::calls }
