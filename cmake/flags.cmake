# Every compiler flag of the project, in one place.

set(GEMFORGE_CXX_FLAGS -O3 -DNDEBUG -Wall -Wno-unused-function -Wno-sign-compare)

# sm_90a needs the -gencode form (the -arch shorthand also runs a plain sm_90 pass).
if(GEMFORGE_CUDA_CHECK_ONLY)
  # CI has no GPU and 2 cores: it checks that the cuda backend compiles and links, and never
  # runs it. PTX only (no ptxas), light device optimization and an unoptimized host side take a
  # kernel file from ~225 s to ~50 s; the binary still works (the driver JITs the PTX), slowly.
  set(CMAKE_CUDA_FLAGS_RELEASE "")
  set(GEMFORGE_CUDA_FLAGS -DNDEBUG -Xcicc -O1 -Xcompiler=-O0 --expt-relaxed-constexpr
      --extended-lambda --diag-suppress=186,20012)
  set(gemforge_cuda_code compute)
else()
  set(GEMFORGE_CUDA_FLAGS -O3 -DNDEBUG -lineinfo --expt-relaxed-constexpr --extended-lambda
      -Xptxas=-warn-spills --diag-suppress=186,20012)
  set(gemforge_cuda_code sm)
endif()
foreach(arch IN LISTS GEMFORGE_CUDA_ARCHS)
  list(APPEND GEMFORGE_CUDA_FLAGS "-gencode=arch=compute_${arch},code=${gemforge_cuda_code}_${arch}")
endforeach()

function(gemforge_cxx_target target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${GEMFORGE_CXX_FLAGS}>)
endfunction()

function(gemforge_cuda_target target)
  set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES OFF CUDA_STANDARD 17)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${GEMFORGE_CUDA_FLAGS}>)
endfunction()
