"""The lessons' props: worker processes and their pool, the RPC server, routing and dead-letter
set-ups, publishing with confirms, a background publisher, alert rules, the live chart.

Each module names the lesson that introduces it. They are built on the core modules one level
up (``helpers.amqp``, ``helpers.management``, ``helpers.metrics``...).
"""
