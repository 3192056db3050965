# Finds tapegrad's dependencies (all from Debian packages). Used by the build and, after
# installation, by tapegradConfig.cmake, so both see the same targets.
include(CMakeFindDependencyMacro)
find_dependency(fmt)
find_dependency(xtensor)
find_dependency(xsimd)
find_dependency(OpenMP)
find_dependency(nlohmann_json)
find_dependency(ZLIB)
# PCRE2 (Debian's libpcre2-dev) has no CMake package, only pkg-config's libpcre2-8.
find_dependency(PkgConfig)
pkg_check_modules(TG_PCRE2 REQUIRED QUIET IMPORTED_TARGET libpcre2-8)
