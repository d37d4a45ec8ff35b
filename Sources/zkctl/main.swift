print("zkctl")
