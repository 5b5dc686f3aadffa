{
  "targets": [
    {
      "target_name": "pheap_native",
      "sources": ["pheap_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
