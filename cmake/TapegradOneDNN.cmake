# Finds oneDNN's CPU part (its header and its library) and makes the imported target
# TapegradOneDNN::dnnl. Used by the build and, after installation, by tapegradConfig.cmake.
#
# Why not oneDNN's own CMake package: Debian builds oneDNN with its OpenCL GPU runtime, so
# dnnl-config.cmake calls find_package(OpenCL REQUIRED), and that inner REQUIRED stops the whole
# configure on a machine without OpenCL's headers (libdnnl-dev only recommends
# ocl-icd-opencl-dev); find_package(dnnl QUIET) does not make it quiet. tapegrad runs oneDNN's
# CPU engine only, which needs neither OpenCL's headers nor its ICD loader's -dev package, so
# neither tapegrad's build nor a user's find_package(tapegrad) should ask for them.
#
# tapegrad_find_onednn([LIBRARY_ONLY]) sets, in the caller's scope:
#   TG_ONEDNN_FOUND    TRUE when a usable oneDNN 2.x was found (header, library, and a test
#                      program that uses the v2 matmul API compiles and links)
#   TG_ONEDNN_VERSION  e.g. 2.6.3 (when a header was found)
#   TG_ONEDNN_MISSING  otherwise, what is missing and which Debian package brings it
# The hints are the usual ones (CMAKE_PREFIX_PATH) plus -DTG_ONEDNN_ROOT=<prefix>. LIBRARY_ONLY
# (for an installed tapegrad, whose static core links oneDNN) looks for the library alone, the
# runtime's libdnnl.so.2 included, and accepts it unchecked: the build already checked it.
include_guard(GLOBAL)

function(tapegrad_find_onednn)
  cmake_parse_arguments(arg "LIBRARY_ONLY" "" "" ${ARGN})
  set(TG_ONEDNN_FOUND FALSE PARENT_SCOPE)
  set(hints)
  if(TG_ONEDNN_ROOT)
    set(hints HINTS ${TG_ONEDNN_ROOT})
  endif()
  if(arg_LIBRARY_ONLY)
    find_library(TG_ONEDNN_LIBRARY NAMES dnnl libdnnl.so.2 ${hints} PATH_SUFFIXES lib lib64
                 DOC "oneDNN's library (libdnnl.so)")
    if(NOT TG_ONEDNN_LIBRARY)
      set(TG_ONEDNN_MISSING "oneDNN's library was not found (Debian's libdnnl2, or libdnnl-dev)" PARENT_SCOPE)
      return()
    endif()
    _tapegrad_onednn_target("")
    set(TG_ONEDNN_FOUND TRUE PARENT_SCOPE)
    return()
  endif()
  find_path(TG_ONEDNN_INCLUDE_DIR oneapi/dnnl/dnnl.hpp ${hints} PATH_SUFFIXES include
            DOC "oneDNN's include directory (holding oneapi/dnnl/dnnl.hpp)")
  find_library(TG_ONEDNN_LIBRARY NAMES dnnl ${hints} PATH_SUFFIXES lib lib64
               DOC "oneDNN's library (libdnnl.so)")
  mark_as_advanced(TG_ONEDNN_INCLUDE_DIR TG_ONEDNN_LIBRARY)
  if(NOT TG_ONEDNN_INCLUDE_DIR)
    set(TG_ONEDNN_MISSING "no oneapi/dnnl/dnnl.hpp (Debian's libdnnl-dev)" PARENT_SCOPE)
    return()
  endif()

  set(version_h ${TG_ONEDNN_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h)
  set(version "")
  if(EXISTS ${version_h})
    file(STRINGS ${version_h} lines REGEX "^#define DNNL_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
    foreach(part IN ITEMS MAJOR MINOR PATCH)
      string(REGEX MATCH "DNNL_VERSION_${part} +([0-9]+)" _ "${lines}")
      list(APPEND version ${CMAKE_MATCH_1})
    endforeach()
    list(JOIN version "." version)
  endif()
  set(TG_ONEDNN_VERSION "${version}" PARENT_SCOPE)
  if(NOT version MATCHES "^2\\.")
    set(TG_ONEDNN_MISSING
        "oneDNN ${version} at ${TG_ONEDNN_INCLUDE_DIR} is not 2.x (tapegrad uses its v2 API, Debian 12's libdnnl-dev 2.6)"
        PARENT_SCOPE)
    return()
  endif()
  if(NOT TG_ONEDNN_LIBRARY)
    set(TG_ONEDNN_MISSING "oneDNN's header is there but not libdnnl.so (reinstall Debian's libdnnl-dev)" PARENT_SCOPE)
    return()
  endif()

  # The header and the library may still not fit together (a half-removed package, a library
  # from another version): compile and link a program that makes a v2 matmul descriptor.
  if(NOT DEFINED TG_ONEDNN_WORKS OR NOT TG_ONEDNN_WORKS_FOR STREQUAL "${TG_ONEDNN_INCLUDE_DIR};${TG_ONEDNN_LIBRARY}")
    set(dir ${CMAKE_BINARY_DIR}/CMakeFiles/tapegrad_onednn_check)
    file(WRITE ${dir}/check.cpp [=[
#include <oneapi/dnnl/dnnl.hpp>
int main() {
    const dnnl::memory::desc a({2, 3}, dnnl::memory::data_type::f32, dnnl::memory::dims{3, 1});
    const dnnl::memory::desc b({3, 4}, dnnl::memory::data_type::f32, dnnl::memory::dims{4, 1});
    const dnnl::memory::desc c({2, 4}, dnnl::memory::data_type::f32, dnnl::memory::dims{4, 1});
    const dnnl::matmul::desc d(a, b, c);
    return dnnl_version()->major == 2 ? 0 : 1;
}
]=])
    try_compile(works ${dir}/build ${dir}/check.cpp
                CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${TG_ONEDNN_INCLUDE_DIR}"
                LINK_LIBRARIES ${TG_ONEDNN_LIBRARY}
                CXX_STANDARD 17
                OUTPUT_VARIABLE log)
    set(TG_ONEDNN_WORKS ${works} CACHE INTERNAL "")
    set(TG_ONEDNN_WORKS_FOR "${TG_ONEDNN_INCLUDE_DIR};${TG_ONEDNN_LIBRARY}" CACHE INTERNAL "")
    if(NOT works)
      file(WRITE ${dir}/check.log "${log}")
    endif()
  endif()
  if(NOT TG_ONEDNN_WORKS)
    set(TG_ONEDNN_MISSING
        "a program using oneDNN ${version} (${TG_ONEDNN_LIBRARY}) does not build; see CMakeFiles/tapegrad_onednn_check/check.log"
        PARENT_SCOPE)
    return()
  endif()

  _tapegrad_onednn_target(${TG_ONEDNN_INCLUDE_DIR})
  set(TG_ONEDNN_FOUND TRUE PARENT_SCOPE)
endfunction()

# The imported target (of the directory that called tapegrad_find_onednn).
function(_tapegrad_onednn_target include_dir)
  if(NOT TARGET TapegradOneDNN::dnnl)
    add_library(TapegradOneDNN::dnnl UNKNOWN IMPORTED)
    set_target_properties(TapegradOneDNN::dnnl PROPERTIES IMPORTED_LOCATION ${TG_ONEDNN_LIBRARY})
    if(NOT "${include_dir}" STREQUAL "")
      set_target_properties(TapegradOneDNN::dnnl PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${include_dir})
    endif()
  endif()
endfunction()
