# Finds tapegrad's dependencies (all from Debian packages). Used by the build and, after
# installation, by tapegradConfig.cmake, so both see the same targets.
include(CMakeFindDependencyMacro)
find_dependency(fmt)
find_dependency(xtensor)
find_dependency(xsimd)
find_dependency(OpenMP)
find_dependency(nlohmann_json)
# A CBLAS: OpenBLAS through pkg-config (Debian's libopenblas-dev).
find_dependency(PkgConfig)
if(NOT TARGET PkgConfig::TG_OPENBLAS)
  pkg_check_modules(TG_OPENBLAS REQUIRED IMPORTED_TARGET openblas)
endif()
