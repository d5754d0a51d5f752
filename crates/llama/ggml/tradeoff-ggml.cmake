# Tradeoff's additions to llama.cpp's CMake build, included after each `project()` through
# CMAKE_PROJECT_INCLUDE (.cargo/config.toml, scripts/build-llama-*.sh), so that the library the
# worker links, llama-bench and llama-server are all compiled the same way.
include_guard(GLOBAL)

if (CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    # Every C and C++ file sees the corrected AMX intrinsics first; the header is a no-op unless
    # the file is compiled for AMX by GCC (only the sapphirerapids CPU variant is).
    add_compile_options("SHELL:-include ${CMAKE_CURRENT_LIST_DIR}/amx-intrinsics-fix.h")
endif()
