// _convert_weight_to_int4pack on cuda (backends/int4pack.h): torch's tinygemm B layout, bit for bit.
//
// The 8 rows of an n-tile, k/2 bytes each, become 8 * k/2 contiguous output bytes. A warp takes
// one n-tile over a 64-byte segment of its rows: lane l loads 16 bytes of row (l / h) % 8
// (h = inner_k_tiles / 2 words a lane per k-tile pair), turns them into the 4 words they feed
// (pack_chunk: nibble moves and a 4x4 byte transpose), and swaps words with the h lanes of its
// row segment (gather) until it holds 16 contiguous output bytes; the warp then stores 512
// contiguous bytes. One 16-byte load and one 16-byte store a lane. torch's kernel: a 32-thread
// block per (n-tile, k super-tile), four single-byte loads and one 4-byte store a word.
#include "backends/cuda/launch.cuh"
#include "backends/int4pack.h"
#include "engine/fast_div.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>

namespace gemforge::int4pack {
namespace {

using pw::cuda::launch;
using pw::cuda::pdl_begin;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerTile = 8;       // mma n-tile
constexpr int kSegmentBytes = 64;     // of each row, per warp: 8 rows x 64 B in, 512 B out
constexpr int kVectorsPerTile = 32;   // 16-byte output vectors a warp stores
constexpr uint32_t kLowNibbles = 0x0f0f0f0fu;

// The 4 words that 16 bytes of a row (words w0..w3 = x.x..x.w) become: word q from byte q of
// each, nibbles hi(w0) hi(w1) hi(w2) hi(w3) lo(w0) lo(w1) lo(w2) lo(w3), low to high.
__device__ __forceinline__ uint4 pack_chunk(const uint4 x) {
  // byte q of each: two of the word's nibbles, already in order
  const uint32_t hi01 = (x.y & ~kLowNibbles) | ((x.x >> 4) & kLowNibbles);  // hi(w1) : hi(w0)
  const uint32_t hi23 = (x.w & ~kLowNibbles) | ((x.z >> 4) & kLowNibbles);  // hi(w3) : hi(w2)
  const uint32_t lo01 = ((x.y << 4) & ~kLowNibbles) | (x.x & kLowNibbles);  // lo(w1) : lo(w0)
  const uint32_t lo23 = ((x.w << 4) & ~kLowNibbles) | (x.z & kLowNibbles);  // lo(w3) : lo(w2)
  // 4x4 byte transpose: word q = (hi01, hi23, lo01, lo23) byte q
  const uint32_t hi_02 = __byte_perm(hi01, hi23, 0x5140), hi_13 = __byte_perm(hi01, hi23, 0x7362);
  const uint32_t lo_02 = __byte_perm(lo01, lo23, 0x5140), lo_13 = __byte_perm(lo01, lo23, 0x7362);
  return {__byte_perm(hi_02, lo_02, 0x5410), __byte_perm(hi_02, lo_02, 0x7632),
          __byte_perm(hi_13, lo_13, 0x5410), __byte_perm(hi_13, lo_13, 0x7632)};
}

// Lanes l and l ^ bit trade: the upper lane gives lo and takes the lower lane's hi into lo.
__device__ __forceinline__ void trade(uint32_t& lo, uint32_t& hi, bool upper, int bit) {
  const uint32_t got = __shfl_xor_sync(0xffffffffu, upper ? lo : hi, bit);
  (upper ? lo : hi) = got;
}

// The h lanes of a row segment (lane % h = j) hold words q * h + j (q = 0..3) of its 4h output
// words; each is given words 4j .. 4j + 3, 16 contiguous bytes.
template <int kH> __device__ __forceinline__ uint4 gather(uint4 w, int lane) {
  static_assert(kH == 1 || kH == 2 || kH == 4, "inner_k_tiles 2, 4 or 8");
  if constexpr (kH == 2) {
    // lane 0: 0 2 4 6 -> 0 1 2 3; lane 1: 1 3 5 7 -> 4 5 6 7
    const bool upper = lane & 1;
    const uint32_t got0 = __shfl_xor_sync(0xffffffffu, upper ? w.x : w.z, 1);
    const uint32_t got1 = __shfl_xor_sync(0xffffffffu, upper ? w.y : w.w, 1);
    return upper ? uint4{got0, w.z, got1, w.w} : uint4{w.x, got0, w.y, got1};
  } else if constexpr (kH == 4) {
    // a 4x4 transpose across 4 lanes: lane j, word q holds 4q + j; two butterfly steps
    trade(w.x, w.y, lane & 1, 1);
    trade(w.z, w.w, lane & 1, 1);
    trade(w.x, w.z, lane & 2, 2);
    trade(w.y, w.w, lane & 2, 2);
  }
  return w;
}

template <int kInnerKTiles>
__global__ void __launch_bounds__(kThreads) pack_kernel(const Pack p, const uint32_t tiles, const fast_div segments) {
  constexpr int kH = kInnerKTiles / 2;
  pdl_begin();
  const int lane = threadIdx.x & 31;
  const uint32_t tile = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (tile >= tiles) return;  // whole warps: the shuffles below see all 32 lanes
  const uint32_t nt = segments.div(tile), s = tile - nt * segments.divisor;

  // lane = (super-tile in segment, row, j): (lane / 8h, lane / h % 8, lane % h)
  const int64_t row = int64_t(nt) * kRowsPerTile + (lane / kH) % kRowsPerTile;
  const int64_t col = int64_t(s) * kSegmentBytes + (lane / (kRowsPerTile * kH) * kH + lane % kH) * 16;
  const bool in_k = col < p.row_bytes;  // the same for the h lanes of a super-tile
  uint4 x = {0u, 0u, 0u, 0u};           // rows past n pack to zeros, as torch's
  if (in_k && row < p.n) x = __ldcs(reinterpret_cast<const uint4*>(p.in + row * p.row_bytes + col));  // (n, k/2) B

  const uint4 w = gather<kH>(pack_chunk(x), lane);
  if (in_k) {
    const int64_t vector = int64_t(nt) * (p.row_bytes / 2) + int64_t(s) * kVectorsPerTile + lane;  // (n/8, k/4) x 16 B
    reinterpret_cast<uint4*>(p.out)[vector] = w;
  }
}

}  // namespace

void pack_cuda(const Pack& p) {
  const int64_t n_tiles = (p.n + kRowsPerTile - 1) / kRowsPerTile;
  const int64_t segments = (p.row_bytes + kSegmentBytes - 1) / kSegmentBytes;
  const int64_t tiles = n_tiles * segments;  // under 2^26: the op passes inputs under 2^31 bytes
  if (tiles == 0) return;
  TORCH_CHECK(tiles < (int64_t(1) << 31), "_convert_weight_to_int4pack: too large for gemforge's kernel");
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  const dim3 blocks(unsigned((tiles + kWarps - 1) / kWarps));
  const fast_div seg{uint32_t(segments)};
  switch (p.inner_k_tiles) {
    case 2: launch(pack_kernel<2>, blocks, dim3(kThreads), stream, p, uint32_t(tiles), seg); break;
    case 4: launch(pack_kernel<4>, blocks, dim3(kThreads), stream, p, uint32_t(tiles), seg); break;
    case 8: launch(pack_kernel<8>, blocks, dim3(kThreads), stream, p, uint32_t(tiles), seg); break;
    default: TORCH_CHECK(false, "_convert_weight_to_int4pack: no kernel for innerKTiles ", p.inner_k_tiles);
  }
}

}  // namespace gemforge::int4pack
