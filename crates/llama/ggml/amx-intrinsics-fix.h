/*
 * GCC's AMX intrinsics (amxtileintrin.h, GCC 12 and others) describe their memory operands
 * wrongly, and llama.cpp's AMX kernels crash with SIGILL on Intel AMX CPUs (Sapphire Rapids and
 * later) when compiled by such a GCC:
 *
 * - `_tile_loadconfig(p)` tells the compiler that `ldtilecfg` reads 8 bytes at p; it reads 64.
 *   ggml builds its tile configuration on the stack just before the call
 *   (ggml-cpu/amx/mmq.cpp, ggml_tile_config_init), so at -O2/-O3 the stores of the row and
 *   column sizes are dead-store-eliminated: only the palette byte survives, every tile is
 *   configured with 0 rows, and the first `tileloadd` faults (#UD, delivered as SIGILL).
 *   `g++ -O3 -march=sapphirerapids -S` on that function shows a single `movb $1` before
 *   `ldtilecfg`; with this header, all 64 bytes are written.
 * - `_tile_loadd` / `_tile_stream_loadd` read memory without saying so, leaving the compiler
 *   free to move stores of the packed tiles after the load. They get a "memory" clobber, as
 *   `_tile_stored` already has.
 *
 * Clang's intrinsics are builtins without this problem; the header changes nothing there, nor in
 * files not compiled for AMX.
 */
#ifndef TRADEOFF_AMX_INTRINSICS_FIX_H
#define TRADEOFF_AMX_INTRINSICS_FIX_H

#if defined(__x86_64__) && defined(__AMX_TILE__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

typedef struct {
    unsigned char bytes[64];
} tradeoff_tile_config_bytes;

static __inline__ __attribute__((__always_inline__)) void tradeoff_tile_loadconfig(const void * config) {
    __asm__ volatile("ldtilecfg\t%X0" : : "m"(*(const tradeoff_tile_config_bytes *) config));
}
#define _tile_loadconfig tradeoff_tile_loadconfig

#undef _tile_loadd_internal
#define _tile_loadd_internal(dst, base, stride)                                                \
    __asm__ volatile("{tileloadd\t(%0,%1,1), %%tmm" #dst "|tileloadd\t%%tmm" #dst ", [%0+%1*1]}" \
                     : : "r"((const void *) (base)), "r"((long) (stride)) : "memory")

#undef _tile_stream_loadd_internal
#define _tile_stream_loadd_internal(dst, base, stride)                                             \
    __asm__ volatile("{tileloaddt1\t(%0,%1,1), %%tmm" #dst "|tileloaddt1\t%%tmm" #dst ", [%0+%1*1]}" \
                     : : "r"((const void *) (base)), "r"((long) (stride)) : "memory")
#endif

#endif
