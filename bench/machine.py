"""What the benchmark reports say about the machine they ran on."""


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, or "unknown"."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"
