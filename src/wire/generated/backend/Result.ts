// Original file: proto/backend.proto


export interface Result {
  'message'?: (string);
  'success'?: (boolean);
}

export interface Result__Output {
  'message': (string);
  'success': (boolean);
}
