"""The live queue dashboard under /admin/queues/ (overview, queue, job, dead letters, workers, add job)."""
