#include "agent/metrics/families.h"

#include <cmath>

namespace accel::metrics {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddGauge(prometheus::MetricFamily& family, Labels labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

void AddCounter(prometheus::MetricFamily& family, Labels labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  family.metric.push_back(std::move(metric));
}

void AddHistogram(prometheus::MetricFamily& family, const common::HistogramCounts& counts) {
  prometheus::ClientMetric metric;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.bounds.size(); ++i) {
    cumulative += counts.counts[i];
    metric.histogram.bucket.push_back({cumulative, counts.bounds[i]});
  }
  metric.histogram.bucket.push_back({counts.count, INFINITY});
  metric.histogram.sample_count = counts.count;
  metric.histogram.sample_sum = counts.sum;
  family.metric.push_back(std::move(metric));
}

}  // namespace accel::metrics
