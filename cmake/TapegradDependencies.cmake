# Finds tapegrad's dependencies (all from Debian packages). Used by the build and, after
# installation, by tapegradConfig.cmake, so both see the same targets.
include(CMakeFindDependencyMacro)
find_dependency(fmt)
find_dependency(xtensor)
find_dependency(xsimd)
find_dependency(OpenMP)
find_dependency(nlohmann_json)
