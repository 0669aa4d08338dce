// Original file: proto/backend.proto

import type { Long } from '@grpc/proto-loader';

export interface MemoryUsageData {
  'total'?: (number | string | Long);
  'breakdown'?: ({[key: string]: number | string | Long});
}

export interface MemoryUsageData__Output {
  'total': (number);
  'breakdown': ({[key: string]: number});
}
