// Empty on the CUDA emulator: emu_device.h (pre-included) defines what this header would.
