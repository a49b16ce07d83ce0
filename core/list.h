/*
 * list.h - intrusive circular doubly-linked list.
 *
 * A struct list is embedded in the element; the head is a struct list of
 * its own. An element belongs to at most one list through a given member.
 * Pure, header-only.
 */
#ifndef JUNCTION_LIST_H
#define JUNCTION_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

struct list {
	struct list *prev, *next;
};

static inline void
list_init(struct list *l)
{
	l->prev = l->next = l;
}

static inline bool
list_is_empty(const struct list *l)
{
	return l->next == l;
}

/* Is the element linked into some list? (requires list_init/list_del use) */
static inline bool
list_is_linked(const struct list *e)
{
	return e->next != NULL && e->next != e;
}

static inline void
list_insert_before(struct list *pos, struct list *e)
{
	e->prev = pos->prev;
	e->next = pos;
	pos->prev->next = e;
	pos->prev = e;
}

static inline void
list_add_tail(struct list *head, struct list *e)
{
	list_insert_before(head, e);
}

static inline void
list_add_head(struct list *head, struct list *e)
{
	list_insert_before(head->next, e);
}

/* Unlink e and leave it self-linked, so a second list_del is harmless. */
static inline void
list_del(struct list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	list_init(e);
}

#define LIST_FIRST(head, type, member) \
	(list_is_empty(head) ? NULL : CONTAINER_OF((head)->next, type, member))

#define LIST_FOREACH(it, head) \
	for (struct list *it = (head)->next; it != (head); it = it->next)

/* Safe against removal of the current element. */
#define LIST_FOREACH_SAFE(it, tmp, head) \
	for (struct list *it = (head)->next, *tmp = it->next; it != (head); \
	     it = tmp, tmp = it->next)

#endif
