# find_package(gemforge) for libtorch programs: gives the target gemforge::gemforge.
# Point CMAKE_PREFIX_PATH at `python -c "import gemforge.cpp; print(gemforge.cpp.cmake_prefix_path())"`.
include(CMakeFindDependencyMacro)
find_dependency(Torch)
get_filename_component(_gemforge_root "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET gemforge::gemforge)
  add_library(gemforge::gemforge SHARED IMPORTED)
  set_target_properties(gemforge::gemforge PROPERTIES
    IMPORTED_LOCATION "${_gemforge_root}/libgemforge.so"
    INTERFACE_INCLUDE_DIRECTORIES "${_gemforge_root}/include"
    INTERFACE_LINK_LIBRARIES "${TORCH_LIBRARIES}")
endif()
set(gemforge_FOUND TRUE)
