// The progress and summary lines uffd-bench and mmapurl-cat draw: units, percent, rate, and the
// cut to the terminal's width.
#include <gtest/gtest.h>

#include "terminal_progress/progress_line.hpp"

using mmapurl::tools::format_bytes;
using mmapurl::tools::progress_line;
using mmapurl::tools::ProgressSample;
using mmapurl::tools::summary_line;

TEST(ProgressLine, BytesInBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(3584), "3.5 KiB");
  EXPECT_EQ(format_bytes(512ull << 20), "512.0 MiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3.0 GiB");
  EXPECT_EQ(format_bytes(~0ull), "16.0 EiB");
}

TEST(ProgressLine, ShowsBytesOfTotalPercentRateAndCounters) {
  ProgressSample s;
  s.seconds = 2;
  s.bytes = 200'000'000;
  s.total = 512ull << 20;
  s.faults = 812;
  s.requests = 57;
  s.in_flight_bytes = 24ull << 20;
  EXPECT_EQ(progress_line("seq", s, 200),
            "seq  190.7 MiB / 512.0 MiB  37%  100.0 MB/s  faults 812  requests 57  in flight 24.0 "
            "MiB");
}

TEST(ProgressLine, UnknownTotalHasNoPercentAndZeroTimeNoRate) {
  ProgressSample s;
  s.bytes = 4096;
  EXPECT_EQ(progress_line("rand", s, 200),
            "rand  4.0 KiB  0.0 MB/s  faults 0  requests 0  in flight 0 B");
}

TEST(ProgressLine, PercentNeverPassesAHundred) {
  ProgressSample s;
  s.seconds = 1;
  s.bytes = 300;
  s.total = 200;
  EXPECT_NE(progress_line("x", s, 200).find("  100%  "), std::string::npos);
}

TEST(ProgressLine, CutToTheTerminalWidth) {
  ProgressSample s;
  s.seconds = 1;
  s.bytes = 1 << 20;
  s.total = 2 << 20;
  EXPECT_EQ(progress_line("seq", s, 20), "seq  1.0 MiB / 2.0 M");
  EXPECT_EQ(progress_line("seq", s, 0), "");
}

TEST(ProgressLine, SummarySaysWhatWasReadHowFastAndWhatItCost) {
  ProgressSample s;
  s.seconds = 1.7;
  s.bytes = 512ull << 20;
  s.faults = 1234;
  s.requests = 88;
  EXPECT_EQ(summary_line("seq", s),
            "seq: 512.0 MiB in 1.70 s, 315.8 MB/s, 1234 faults, 88 requests");
}
