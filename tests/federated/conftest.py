SMALL = {"dataset": "iris", "clients": 4, "rounds": 2, "difficulty_bits": 8}
