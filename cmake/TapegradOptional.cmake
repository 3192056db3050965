# Optional parts of the build. Each is a cache option AUTO (the default: on when what it needs is
# found), ON (required: configuring fails, saying what is missing) or OFF; the configure step
# prints one line per part saying whether it is used and, when not, what is missing and which
# Debian package brings it. A missing or broken optional dependency never stops an AUTO build.
include_guard(GLOBAL)

# tg_feature_option(<var> <doc>): declares <var> as AUTO|ON|OFF (AUTO by default).
function(tg_feature_option var doc)
  set(${var} AUTO CACHE STRING "${doc} (AUTO: when found, ON: required, OFF: never)")
  set_property(CACHE ${var} PROPERTY STRINGS AUTO ON OFF)
endfunction()

# tg_feature_searched(<var> <result>): FALSE when the option <var> is OFF (no need to look).
function(tg_feature_searched var result)
  string(TOUPPER "${${var}}" want)
  if(want MATCHES "^(OFF|FALSE|NO|0|N)$")
    set(${result} FALSE PARENT_SCOPE)
  else()
    set(${result} TRUE PARENT_SCOPE)
  endif()
endfunction()

# tg_feature_decide(<var> <found> <name> <on> <missing> <off> <result>): sets <result> to ON or
# OFF from the option <var> and whether the dependency was <found>, and prints one line:
#   tapegrad: <name>: <on>                          used
#   tapegrad: <name> not used: <missing>; <off>     AUTO, and not found
#   tapegrad: <name> not used (<var>=OFF); <off>    turned off
# With <var>=ON and nothing found, configuring stops, saying <missing>.
function(tg_feature_decide var found name on missing off result)
  string(TOUPPER "${${var}}" want)
  string(STRIP "${name}" name)
  set(${result} OFF PARENT_SCOPE)
  if(want MATCHES "^(OFF|FALSE|NO|0|N)$")
    message(STATUS "tapegrad: ${name} not used (${var}=OFF); ${off}")
  elseif(NOT want MATCHES "^(AUTO|ON|TRUE|YES|1|Y)$")
    message(FATAL_ERROR "tapegrad: ${var} is '${${var}}'; it takes AUTO, ON or OFF")
  elseif(found)
    set(${result} ON PARENT_SCOPE)
    message(STATUS "tapegrad: ${name}: ${on}")
  elseif(want STREQUAL "AUTO")
    message(STATUS "tapegrad: ${name} not used: ${missing}; ${off}")
  else()
    message(FATAL_ERROR "tapegrad: ${var}=ON, but ${missing}. Install it, or configure with -D${var}=AUTO or OFF.")
  endif()
endfunction()

# tg_probe_package(<package> <result> [find_package arguments...]): whether
# find_package(<package> REQUIRED ...) succeeds, tried in a separate CMake run first, so that a
# half-installed package whose config file stops with FATAL_ERROR (libtorch's Caffe2Config does
# when glog or protobuf are missing) cannot stop this configure. The answer is cached; delete
# TG_PROBE_<package> from the cache to ask again.
function(tg_probe_package package result)
  set(cache_var TG_PROBE_${package})
  if(NOT DEFINED ${cache_var})
    set(dir ${CMAKE_BINARY_DIR}/CMakeFiles/tapegrad_probe_${package})
    file(REMOVE_RECURSE ${dir})
    string(REPLACE ";" " " find_args "${ARGN}")
    file(WRITE ${dir}/CMakeLists.txt
      "cmake_minimum_required(VERSION 3.20)\nproject(probe LANGUAGES CXX)\nfind_package(${package} REQUIRED ${find_args})\n")
    set(hints "-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH}")
    if(DEFINED ${package}_DIR)
      list(APPEND hints "-D${package}_DIR=${${package}_DIR}")
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} -S ${dir} -B ${dir}/build -G ${CMAKE_GENERATOR}
                            -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} ${hints}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(rc EQUAL 0)
      set(${cache_var} TRUE CACHE INTERNAL "")
    else()
      set(${cache_var} FALSE CACHE INTERNAL "")
      file(WRITE ${dir}/probe.log "${out}")
    endif()
  endif()
  set(${result} ${${cache_var}} PARENT_SCOPE)
endfunction()

# tg_require_package(<package> <debian package> <what needs it> [find_package arguments...]):
# find_package, and when it fails, one message saying what needs it and what installs it
# instead of CMake's page about <package>_DIR. A macro, so the package's variables reach the
# caller.
macro(tg_require_package package deb what)
  find_package(${package} QUIET ${ARGN})
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR "tapegrad: ${what}: ${package} was not found; install Debian's ${deb} "
                        "(scripts/test and scripts/train install everything they build).")
  endif()
endmacro()
