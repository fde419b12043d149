// _convert_weight_to_int4pack's plain description: int4 weights, two a byte, rearranged into the
// B-operand layout of torch's tinygemm kernel (_weight_int4pack_mm, mma m16n8k16). No ATen here.
//
//   in   uint8 [n][k / 2]: element (row, 2c) is the high nibble of byte c, (row, 2c + 1) the low
//   out  int32 [ceil(n / 8)][k / (inner_k_tiles * 16)][32][inner_k_tiles / 2]
//
// Word out[nt][kt][t][j] feeds lane t of the mma for rows nt * 8 + t / 4 (zero past n) and the two
// k-tiles kt * inner_k_tiles + 2j, + 2j + 1. With the 16 bytes of that row at byte offset
// kt * 8 * inner_k_tiles + 16j read as four little-endian words w0..w3, and v_m the byte t % 4
// of w_m, the word's nibbles (low to high) are
//   hi(v0) hi(v1) hi(v2) hi(v3) lo(v0) lo(v1) lo(v2) lo(v3)
// so that the kernel's (nibble i, nibble i + 4) pairs are the k-adjacent elements 2 * byte and
// 2 * byte + 1 that an mma lane holds.
#pragma once

#include <cstdint>

namespace gemforge::int4pack {

struct Pack {
  const uint8_t* in;  // contiguous [n][row_bytes], 16-byte aligned
  int32_t* out;       // contiguous, 16-byte aligned
  int64_t n;          // rows
  int64_t row_bytes;  // k / 2, a multiple of inner_k_tiles * 8
  int inner_k_tiles;  // 2, 4 or 8
};

#ifdef GEMFORGE_WITH_CUDA
// Runs p on the current stream of the current device.
void pack_cuda(const Pack& p);
#endif

}  // namespace gemforge::int4pack
