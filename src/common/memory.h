/* memory.h -- giving freed heap memory back to the system.
 *
 * A /status over 10,000 pods builds tens of megabytes of short-lived JSON;
 * glibc keeps what is freed in its arenas (one per thread, up to eight per
 * core, and interlink runs a thread per connection), so a daemon's RSS
 * stayed at its peak after the pods were gone.  il_memory_init bounds the
 * arenas and starts a thread that returns free memory to the system once
 * enough of it has piled up. */
#ifndef IL_MEMORY_H
#define IL_MEMORY_H

/* Call once at start-up, before other threads start.  MALLOC_ARENA_MAX and
 * MALLOC_MMAP_THRESHOLD_ in the environment, when set, win over our arena
 * bound and mapping threshold. */
void il_memory_init(void);

/* A large transient block (or many) was just freed, as at the end of a
 * periodic job: the trimmer looks at the arenas now, not at its next look.
 * Cheap; does nothing without il_memory_init. */
void il_memory_hint(void);

#endif
