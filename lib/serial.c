/* SPDX-License-Identifier: MIT */
/*
 * The COM port glue: see include/vcon/serial.h. Lock order is the port's
 * lock, then the chardev's (the UART's sink is vcon_chr_fe_write); the
 * chardev calls us back without its lock held, so that order holds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <vcon/serial.h>

struct vcon_serial {
	pthread_mutex_t lock;
	struct vcon_uart *uart;
	struct vcon_loop_timer *timer;
	struct vcon_chr_fe *fe;
	bool rx_starved; /* the chardev holds input the FIFO had no room for */
	void (*event)(void *ctx, enum vcon_chr_event ev, int arg);
	void *event_ctx;
};

static size_t
tx_sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct vcon_serial *s = ctx;

	/* No backend, or not attached yet: the bytes go nowhere. */
	return s->fe ? vcon_chr_fe_write(s->fe, buf, len) : len;
}

static size_t
on_receive(void *ctx, const uint8_t *buf, size_t len)
{
	struct vcon_serial *s = ctx;
	size_t took;

	pthread_mutex_lock(&s->lock);
	took = vcon_uart_receive(s->uart, buf, len, vcon_now_ns());
	if (took < len)
		s->rx_starved = true;
	pthread_mutex_unlock(&s->lock);
	return took;
}

static void
on_tx_ready(void *ctx)
{
	struct vcon_serial *s = ctx;

	pthread_mutex_lock(&s->lock);
	vcon_uart_tx_ready(s->uart, vcon_now_ns());
	pthread_mutex_unlock(&s->lock);
}

static void
on_event(void *ctx, enum vcon_chr_event ev, int arg)
{
	struct vcon_serial *s = ctx;

	if (ev == VCON_CHR_EVENT_BREAK) {
		pthread_mutex_lock(&s->lock);
		vcon_uart_send_break(s->uart, vcon_now_ns());
		pthread_mutex_unlock(&s->lock);
	}
	if (s->event)
		s->event(s->event_ctx, ev, arg);
}

static const struct vcon_chr_fe_ops serial_fe_ops = {
	.receive = on_receive,
	.tx_ready = on_tx_ready,
	.event = on_event,
};

static void
on_timer(void *ctx, uint64_t now_ns)
{
	struct vcon_serial *s = ctx;

	pthread_mutex_lock(&s->lock);
	vcon_uart_tick(s->uart, now_ns);
	pthread_mutex_unlock(&s->lock);
}

VCON_API int
vcon_serial_new(const struct vcon_serial_config *cfg, struct vcon_serial **out)
{
	struct vcon_uart_config ucfg;
	struct vcon_serial *s;
	int rc;

	if (!cfg->loop || !cfg->irq.set_level)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->event = cfg->event;
	s->event_ctx = cfg->event_ctx;
	rc = vcon_loop_timer_new(cfg->loop, on_timer, s, &s->timer);
	if (rc < 0)
		goto fail;
	ucfg = (struct vcon_uart_config){
		.fifo_size = cfg->fifo_size,
		.irq = cfg->irq,
		.tx = { .write = tx_sink, .ctx = s },
		.timer = vcon_loop_timer_as_vcon_timer(s->timer),
	};
	rc = vcon_uart_new(&ucfg, &s->uart);
	if (rc < 0)
		goto fail;
	if (cfg->chr) {
		rc = vcon_chr_attach(cfg->chr, &serial_fe_ops, s, &s->fe);
		if (rc < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	vcon_uart_free(s->uart);
	vcon_loop_timer_free(s->timer);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

VCON_API void
vcon_serial_free(struct vcon_serial *s)
{
	if (!s)
		return;
	/* The guest's last output, held for its burst, leaves first. */
	pthread_mutex_lock(&s->lock);
	vcon_uart_flush(s->uart, vcon_now_ns());
	pthread_mutex_unlock(&s->lock);
	/* Callbacks next: none runs after detach and timer_free return. */
	vcon_chr_detach(s->fe);
	vcon_loop_timer_free(s->timer);
	vcon_uart_free(s->uart);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The guest made room: let the chardev deliver what it holds. */
static void
resume_input(struct vcon_serial *s, bool resume)
{
	if (resume)
		vcon_chr_fe_input_ready(s->fe);
}

static bool
room_again_locked(struct vcon_serial *s)
{
	if (!s->rx_starved || vcon_uart_rx_room(s->uart) == 0)
		return false;
	s->rx_starved = false;
	return true;
}

VCON_API uint8_t
vcon_serial_read(struct vcon_serial *s, unsigned off)
{
	uint8_t v;
	bool resume;

	pthread_mutex_lock(&s->lock);
	v = vcon_uart_read(s->uart, off, vcon_now_ns());
	resume = room_again_locked(s);
	pthread_mutex_unlock(&s->lock);
	resume_input(s, resume);
	return v;
}

VCON_API void
vcon_serial_write(struct vcon_serial *s, unsigned off, uint8_t val)
{
	bool resume;

	pthread_mutex_lock(&s->lock);
	vcon_uart_write(s->uart, off, val, vcon_now_ns());
	resume = room_again_locked(s);
	pthread_mutex_unlock(&s->lock);
	resume_input(s, resume);
}

static uint64_t
bus_read(void *ctx, uint64_t off, unsigned size)
{
	(void)size;
	return vcon_serial_read(ctx, (unsigned)off);
}

static void
bus_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	(void)size;
	vcon_serial_write(ctx, (unsigned)off, (uint8_t)val);
}

static const struct vcon_bus_ops serial_bus_ops = {
	.read = bus_read,
	.write = bus_write,
	.max_access = 1,
};

VCON_API int
vcon_serial_map(struct vcon_serial *s, struct vcon_bus *bus, uint64_t base)
{
	return vcon_bus_map(bus, base, VCON_UART_NREGS, &serial_bus_ops, s);
}

VCON_API void
vcon_serial_save(struct vcon_serial *s, struct vcon_uart_state *st)
{
	pthread_mutex_lock(&s->lock);
	vcon_uart_save(s->uart, st);
	pthread_mutex_unlock(&s->lock);
}

VCON_API int
vcon_serial_restore(struct vcon_serial *s, const struct vcon_uart_state *st)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = vcon_uart_restore(s->uart, st, vcon_now_ns());
	pthread_mutex_unlock(&s->lock);
	return rc;
}

VCON_API void
vcon_serial_get_stats(struct vcon_serial *s, struct vcon_uart_stats *st)
{
	pthread_mutex_lock(&s->lock);
	vcon_uart_get_stats(s->uart, st);
	pthread_mutex_unlock(&s->lock);
}
