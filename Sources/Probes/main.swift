print("ensemble-probe: not built yet")
