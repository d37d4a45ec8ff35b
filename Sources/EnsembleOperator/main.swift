print("ensemble-operator")
