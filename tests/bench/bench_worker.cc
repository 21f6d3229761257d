// bench_worker: the smallest possible "worker" for launch_overhead_bench.
//
// Writes one byte to the descriptor named by BENCH_READY_FD, or to the FIFO named by BENCH_READY_FIFO
// (when it runs under `accelctl launch`, which passes no extra descriptors), then, if BENCH_FAIL_FD
// is set, waits for a byte on that descriptor and exits 1 (a failing worker on demand); otherwise it
// sleeps until a signal ends it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

int main() {
  char byte = 'r';
  if (const char* ready = std::getenv("BENCH_READY_FD")) {
    if (::write(std::atoi(ready), &byte, 1) != 1) return 2;
  }
  if (const char* fifo = std::getenv("BENCH_READY_FIFO")) {
    const int fd = ::open(fifo, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, &byte, 1) != 1) return 2;
    ::close(fd);
  }
  if (const char* fail = std::getenv("BENCH_FAIL_FD")) {
    [[maybe_unused]] ssize_t n = ::read(std::atoi(fail), &byte, 1);
    return 1;
  }
  for (;;) ::pause();
}
