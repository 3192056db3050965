#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <tapegrad.hpp>

// The suites compare runs bit for bit in many places (a resumed run with an uninterrupted one,
// threads with serial runs), and a reduction split over threads depends on their count in its
// last bits. The adaptive thread policy changes the count with the machine's load, which ctest
// -j2 varies, so the suites run with the fixed one; test_threads.cpp's cases on the adaptive
// policy switch it on for themselves.
int main(int argc, char** argv) {
    tg::set_thread_policy(tg::ThreadPolicy::fixed);
    return Catch::Session().run(argc, argv);
}
