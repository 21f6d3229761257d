#include "agent/metrics/text_renderer.h"

#include <cmath>
#include <iterator>
#include <string_view>

#include "fmt/format.h"

namespace accel::metrics {
namespace {

void AppendValue(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
  } else {
    char buffer[40];  // the shortest round-trip form of a double fits in 24 characters
    const auto result = fmt::format_to_n(buffer, sizeof(buffer), "{}", value);
    out->append(buffer, result.out);
  }
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void AppendEscaped(std::string_view text, bool quote, std::string* out) {
  if (text.find_first_of(quote ? "\\\n\"" : "\\\n") == std::string_view::npos) {
    out->append(text);  // the common case: nothing to escape
    return;
  }
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// name{labels[,extra="value"]} value\n
void AppendSample(std::string_view name, std::string_view suffix, const std::vector<prometheus::ClientMetric::Label>& labels,
                  std::string_view extra_name, double extra_value, bool has_extra, double value, std::string* out) {
  out->append(name);
  out->append(suffix);
  if (!labels.empty() || has_extra) {
    out->push_back('{');
    bool first = true;
    for (const auto& label : labels) {
      if (!first) out->push_back(',');
      first = false;
      out->append(label.name);
      out->append("=\"");
      AppendEscaped(label.value, true, out);
      out->push_back('"');
    }
    if (has_extra) {
      if (!first) out->push_back(',');
      out->append(extra_name);
      out->append("=\"");
      AppendValue(extra_value, out);
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(' ');
  AppendValue(value, out);
  out->push_back('\n');
}

std::string_view TypeName(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    default:
      return "untyped";
  }
}

}  // namespace

void RenderText(const std::vector<prometheus::MetricFamily>& families, std::string* out) {
  // Grown once: a thousand workers' series are about half a megabyte, and doubling a string that size
  // costs more in copies and page faults than the formatting itself.
  size_t samples = 0;
  for (const auto& family : families) {
    for (const auto& metric : family.metric) {
      samples += family.type == prometheus::MetricType::Histogram ? metric.histogram.bucket.size() + 3 : 1;
    }
  }
  constexpr size_t kBytesPerSample = 112;
  out->reserve(out->size() + samples * kBytesPerSample);
  for (const auto& family : families) {
    if (family.metric.empty()) continue;
    out->append("# HELP ");
    out->append(family.name);
    out->push_back(' ');
    AppendEscaped(family.help, false, out);
    out->append("\n# TYPE ");
    out->append(family.name);
    out->push_back(' ');
    out->append(TypeName(family.type));
    out->push_back('\n');
    for (const auto& metric : family.metric) {
      switch (family.type) {
        case prometheus::MetricType::Counter:
          AppendSample(family.name, "", metric.label, "", 0, false, metric.counter.value, out);
          break;
        case prometheus::MetricType::Gauge:
          AppendSample(family.name, "", metric.label, "", 0, false, metric.gauge.value, out);
          break;
        case prometheus::MetricType::Histogram: {
          bool has_inf = false;
          for (const auto& bucket : metric.histogram.bucket) {
            has_inf = has_inf || std::isinf(bucket.upper_bound);
            AppendSample(family.name, "_bucket", metric.label, "le", bucket.upper_bound, true,
                         static_cast<double>(bucket.cumulative_count), out);
          }
          if (!has_inf) {
            AppendSample(family.name, "_bucket", metric.label, "le", INFINITY, true,
                         static_cast<double>(metric.histogram.sample_count), out);
          }
          AppendSample(family.name, "_sum", metric.label, "", 0, false, metric.histogram.sample_sum, out);
          AppendSample(family.name, "_count", metric.label, "", 0, false,
                       static_cast<double>(metric.histogram.sample_count), out);
          break;
        }
        case prometheus::MetricType::Summary:
          for (const auto& quantile : metric.summary.quantile) {
            AppendSample(family.name, "", metric.label, "quantile", quantile.quantile, true, quantile.value, out);
          }
          AppendSample(family.name, "_sum", metric.label, "", 0, false, metric.summary.sample_sum, out);
          AppendSample(family.name, "_count", metric.label, "", 0, false,
                       static_cast<double>(metric.summary.sample_count), out);
          break;
        default:
          AppendSample(family.name, "", metric.label, "", 0, false, metric.untyped.value, out);
          break;
      }
    }
  }
}

}  // namespace accel::metrics
