# Every compiler flag of the project, in one place.

set(GEMFORGE_CXX_FLAGS -O3 -DNDEBUG -Wall -Wno-unused-function -Wno-sign-compare)

# sm_90a needs the -gencode form (the -arch shorthand also runs a plain sm_90 pass).
set(GEMFORGE_CUDA_FLAGS -O3 -DNDEBUG -lineinfo --expt-relaxed-constexpr --extended-lambda
    -Xptxas=-warn-spills --diag-suppress=186,20012)
foreach(arch IN LISTS GEMFORGE_CUDA_ARCHS)
  list(APPEND GEMFORGE_CUDA_FLAGS "-gencode=arch=compute_${arch},code=sm_${arch}")
endforeach()

function(gemforge_cxx_target target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${GEMFORGE_CXX_FLAGS}>)
endfunction()

function(gemforge_cuda_target target)
  set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES OFF CUDA_STANDARD 17)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${GEMFORGE_CUDA_FLAGS}>)
endfunction()
