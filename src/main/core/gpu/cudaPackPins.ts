/**
 * V14: the CUDA pack's packages as package-lock.json pins them (version and sha512 `integrity`).
 * The lock does not ship inside the installers, so its pins are copied here;
 * cudaPack.test.ts fails, printing this file's new text, when they drift from the lock (an update of
 * node-llama-cpp).
 */
export const CUDA_PACK_PINS = {
  nodeLlamaCpp: '3.21.1',
  packages: {
    '@node-llama-cpp/linux-x64-cuda': { version: '3.21.1', integrity: 'sha512-idsE55VoD/FbvLhnBC9krUJaUoC0XnebseAAnCpm/brKf61HEbu+idgbb5eN6mxkjLSrHtILprJ0nDcUJjVrFg==' },
    '@node-llama-cpp/linux-x64-cuda-ext': { version: '3.21.1', integrity: 'sha512-1PuURowccBcks3CCoMe1mTHh5vD0V5bFHMUEgtbI/OSDjpP+Pdbn+lf42CGUrepTzR8kCH1HovQ7d8q6/vuIKA==' },
    '@node-llama-cpp/win-x64-cuda': { version: '3.21.1', integrity: 'sha512-PLz70neFEMkQTlmJqG1ujUtCSgHasLPMxQ9rLkqQVmZYAXqkRj+45TIHCjdn3XqUeaoun0vrO9rRaxZ8NVq9jg==' },
    '@node-llama-cpp/win-x64-cuda-ext': { version: '3.21.1', integrity: 'sha512-L2MxLVEYPDDe4O8EDWPmX6brldc9+Vt9hNoT/anj3pSnmrjkQcmaoKhHs6oP5qhEhb5Uog0rj6lgzNGtJO3p9Q==' },
  },
} as const;
