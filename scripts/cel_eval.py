"""Evaluates CEL rules for the CRD tests (cel-python, an independent CEL implementation).

stdin: a JSON list of {"rule": str, "self": any, "oldSelf": any (optional)}
stdout: a JSON list with, per item, true/false or {"error": str} when the rule does not
compile or evaluate (the tests treat that as a failure: the API server would reject it).
"""
import json
import sys

import celpy


def main():
    env = celpy.Environment()
    results = []
    for item in json.load(sys.stdin):
        try:
            program = env.program(env.compile(item["rule"]))
            activation = {"self": celpy.json_to_cel(item["self"])}
            if "oldSelf" in item:
                activation["oldSelf"] = celpy.json_to_cel(item["oldSelf"])
            value = program.evaluate(activation)
            if isinstance(value, Exception):
                results.append({"error": str(value)})
            else:
                results.append(bool(value))
        except Exception as error:  # a rule that cannot compile or run is a test failure
            results.append({"error": f"{type(error).__name__}: {error}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
