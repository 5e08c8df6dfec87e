"""A real SMTP server on loopback for the end-to-end tests (aiosmtpd).

Usage: smtp_sink.py PORT DIR

Every message it accepts is written to DIR as NNNN.json (the envelope: MAIL FROM and RCPT TO)
and then NNNN.eml (the bytes as received), so a reader that sees the .eml sees a whole message.
Prints "ready" once it listens; stops on SIGTERM or SIGINT.
"""

import json
import os
import signal
import sys

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, f"{self.count:04d}")
        with open(base + ".json", "w", encoding="utf-8") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        with open(base + ".eml.part", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.part", base + ".eml")
        return "250 Message accepted for delivery"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    controller = Controller(Save(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
