// A probe of the layering: built by tests of CMakeLists.txt ("Layering") as part of one wing's
// library, including one header of another. A header across the arrows is not on the wing's
// include path, so the probe must fail to compile with "No such file"; a header the arrows
// allow must compile.
#include HOOKVAULT_PROBE_HEADER

int hookvault_layering_probe = 0;
