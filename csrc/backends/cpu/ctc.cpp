// cpu kernels of the CTC loss (backends/ctc.h): one batch entry a task, the recursions over time
// in order, log-space sums as torch's (the largest term factored out, -inf terms dropped).
#include "backends/ctc.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace gemforge::ctc {
namespace {

template <class T> constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// log(exp(a) + exp(b) + exp(c)); -inf when all three are.
template <class T> T log_add(T a, T b, T c) {
  T m = std::max(a, std::max(b, c));
  if (m == kNegInf<T>) m = T(0);
  return std::log(std::exp(a - m) + std::exp(b - m) + std::exp(c - m)) + m;
}

// Entry b of a problem: its lengths, its log-probabilities and the extended label at s.
template <class T> struct Entry {
  const Problem& p;
  int64_t b, input_length, target_length;
  const T* log_probs;
  Entry(const Problem& p_, int64_t b_)
      : p(p_), b(b_), input_length(p_.input_lengths[b_]), target_length(p_.target_lengths[b_]),
        log_probs(static_cast<const T*>(p_.log_probs)) {}
  int64_t states() const { return 2 * target_length + 1; }
  int64_t label(int64_t s) const {
    return s % 2 == 0 ? p.blank : p.targets[p.offsets[b] + (s / 2) * p.target_stride];
  }
  T lp(int64_t t, int64_t c) const { return log_probs[(t * p.B + b) * p.C + c]; }
};

template <class T> void forward_typed(const Problem& p, T* nll, T* log_alpha) {
  const int64_t width = 2 * p.max_target_length + 1;
  at::parallel_for(0, p.B, 1, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const Entry<T> e(p, b);
      T* la = log_alpha + b * p.T * width;  // (T, width)
      std::fill(la, la + p.T * width, kNegInf<T>);
      if (e.input_length == 0) {  // an empty input explains only an empty target
        nll[b] = -(e.target_length == 0 ? T(0) : kNegInf<T>);
        continue;
      }
      const int64_t S = e.states();
      la[0] = e.lp(0, p.blank);
      if (e.target_length > 0) la[1] = e.lp(0, e.label(1));
      for (int64_t t = 1; t < e.input_length; ++t) {
        const T* prev = la + (t - 1) * width;
        T* cur = la + t * width;
        for (int64_t s = 0; s < S; ++s) {
          const int64_t l = e.label(s);
          const T stay = prev[s];
          const T step = s > 0 ? prev[s - 1] : kNegInf<T>;
          const T skip = s > 1 && e.label(s - 2) != l ? prev[s - 2] : kNegInf<T>;  // over a blank
          cur[s] = log_add(stay, step, skip) + e.lp(t, l);
        }
      }
      const T* end = la + (e.input_length - 1) * width;
      const T ll = e.target_length == 0 ? end[0] : log_add(end[S - 1], end[S - 2], kNegInf<T>);
      nll[b] = -ll;
    }
  });
}

template <class T>
void backward_typed(const Problem& p, const T* grad_out, const T* nll, const T* log_alpha, bool zero_infinity,
                    T* grad) {
  const int64_t width = 2 * p.max_target_length + 1;
  at::parallel_for(0, p.B, 1, [&](int64_t first, int64_t last) {
    std::vector<T> lb, acc;
    for (int64_t b = first; b < last; ++b) {
      const Entry<T> e(p, b);
      auto g = [&](int64_t t, int64_t c) -> T& { return grad[(t * p.B + b) * p.C + c]; };
      const int64_t il = e.input_length, S = e.states();
      const bool zero = il == 0 || (zero_infinity && nll[b] == std::numeric_limits<T>::infinity());
      for (int64_t t = zero ? 0 : il; t < p.T; ++t)
        for (int64_t c = 0; c < p.C; ++c) g(t, c) = T(0);
      if (zero) continue;
      const T* la = log_alpha + b * p.T * width;
      // beta (il, S) and, per time and label, the log of the summed alpha * beta of its states
      lb.assign(size_t(il * S), kNegInf<T>);
      acc.assign(size_t(il * p.C), kNegInf<T>);
      auto add = [&](int64_t t, int64_t s) {
        T& a = acc[size_t(t * p.C + e.label(s))];
        const T ab = la[t * width + s] + lb[size_t(t * S + s)];
        if (a == kNegInf<T>) {
          a = ab;
        } else {
          const T m = std::max(a, ab);
          a = std::log(std::exp(a - m) + std::exp(ab - m)) + m;
        }
      };
      lb[size_t((il - 1) * S + S - 1)] = e.lp(il - 1, p.blank);
      add(il - 1, S - 1);
      if (e.target_length > 0) {
        lb[size_t((il - 1) * S + S - 2)] = e.lp(il - 1, e.label(S - 2));
        add(il - 1, S - 2);
      }
      for (int64_t t = il - 2; t >= 0; --t) {
        const T* next = lb.data() + (t + 1) * S;
        for (int64_t s = S - 1; s >= 0; --s) {
          const int64_t l = e.label(s);
          const T stay = next[s];
          const T step = s < S - 1 ? next[s + 1] : kNegInf<T>;
          const T skip = s < S - 2 && e.label(s + 2) != l ? next[s + 2] : kNegInf<T>;
          lb[size_t(t * S + s)] = log_add(stay, step, skip) + e.lp(t, l);
          add(t, s);
        }
      }
      const T scale = grad_out[b];
      for (int64_t t = 0; t < il; ++t)
        for (int64_t c = 0; c < p.C; ++c) {
          const T lp = e.lp(t, c);
          g(t, c) = (std::exp(lp) - std::exp(acc[size_t(t * p.C + c)] + nll[b] - lp)) * scale;
        }
    }
  });
}

}  // namespace

void forward_cpu(const Problem& p, void* nll, void* log_alpha) {
  dispatch_dtype<kTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward_typed<T>(p, static_cast<T*>(nll), static_cast<T*>(log_alpha));
  });
}

void backward_cpu(const Problem& p, const void* grad_out, const void* nll, const void* log_alpha,
                  bool zero_infinity, void* grad) {
  dispatch_dtype<kTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward_typed<T>(p, static_cast<const T*>(grad_out), static_cast<const T*>(nll),
                      static_cast<const T*>(log_alpha), zero_infinity, static_cast<T*>(grad));
  });
}

}  // namespace gemforge::ctc
